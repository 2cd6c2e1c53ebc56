//! Results: per-worker latency histograms merged into one, percentiles, buckets, and the JSON
//! document shared with `jumpnet bench --json` (schema "jumpnet-bench/1", bench/README.md).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::Load;

/// Upper bounds of the histogram buckets, in milliseconds: 1-2-5 steps, the same in every tool.
pub const BUCKETS_MS: &[f64] = &[
    0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
    5000.0, 10000.0, 60000.0,
];

/// Latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// What one worker counted.
pub struct Tally {
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            latency: histogram(),
            ok: 0,
            errors: 0,
            first_error: None,
        }
    }

    pub fn record(&mut self, took: Duration) {
        self.ok += 1;
        self.latency
            .saturating_record(took.as_micros().max(1) as u64);
    }

    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
}

pub fn buckets(h: &Histogram<u64>) -> Vec<Value> {
    let mut below = 0u64;
    BUCKETS_MS
        .iter()
        .map(|&le| {
            let upto = h.count_between(0, (le * 1000.0) as u64);
            let n = upto - below;
            below = upto;
            json!({ "le_ms": le, "count": n })
        })
        .collect()
}

/// The phase object of the shared schema.
pub fn phase(name: &str, tallies: Vec<Tally>, elapsed: Duration, message_size: usize) -> Value {
    let mut h = histogram();
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for t in tallies {
        h.add(&t.latency).expect("same histogram bounds");
        ok += t.ok;
        errors += t.errors;
        first_error = first_error.or(t.first_error);
    }
    let secs = elapsed.as_secs_f64();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "name": name,
        "duration_s": secs,
        "requests": ok,
        "messages": ok,
        "errors": errors,
        "first_error": first_error,
        "throughput_msgs_per_s": ok as f64 / secs,
        "throughput_mb_per_s": ok as f64 * message_size as f64 / secs / 1e6,
        "latency_ms": {
            "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p999": ms(0.999),
            "max": h.max() as f64 / 1000.0, "mean": h.mean() / 1000.0,
        },
        "histogram": buckets(&h),
    })
}

/// The 1-minute load average and the CPU count, recorded with every result.
pub fn machine() -> Value {
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    });
    json!({
        "loadavg_1m": load,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    })
}

/// CPU seconds this process used so far (user + system), from /proc: how much of the machine the
/// load generator itself took.
pub fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Print the one-line summary and write the JSON file.
pub fn finish(load: &Load, tool_config: Value, phase: Value) -> anyhow::Result<()> {
    let l = &phase["latency_ms"];
    println!(
        "{:<40} {:>10.0} msg/s   p50 {:>7.3} ms   p99 {:>7.3} ms   p99.9 {:>7.3} ms   max {:>8.3} ms   ({} ok, {} errors)",
        load.label,
        phase["throughput_msgs_per_s"].as_f64().unwrap_or(0.0),
        l["p50"].as_f64().unwrap_or(0.0),
        l["p99"].as_f64().unwrap_or(0.0),
        l["p999"].as_f64().unwrap_or(0.0),
        l["max"].as_f64().unwrap_or(0.0),
        phase["requests"],
        phase["errors"],
    );
    if let Some(e) = phase["first_error"].as_str() {
        eprintln!("  first error: {e}");
    }
    let Some(path) = &load.json else {
        return Ok(());
    };
    let mut config = json!({
        "connections": load.connections,
        "in_flight_per_connection": 1,
        "message_size": load.message_size,
        "batch_size": 1,
        "duration_s": load.duration,
    });
    for (k, v) in tool_config.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    for (k, v) in &load.notes {
        config[k] = json!(v);
    }
    let doc = json!({
        "schema": "jumpnet-bench/1",
        "tool": "jumpnet-loadgen",
        "system": load.system,
        "label": load.label,
        "started_at": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "machine": machine(),
        "client_cpu_s": own_cpu_seconds(),
        "config": config,
        "phases": [phase],
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    Ok(())
}
