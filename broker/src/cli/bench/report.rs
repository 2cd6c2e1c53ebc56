//! Results of `jumpnet bench`: one latency histogram per phase, percentiles, fixed buckets, the
//! text a person reads and the JSON document `--json FILE` writes.
//!
//! The JSON shape (schema `jumpnet-bench/1`, shared with `bench/loadgen` and read by `bench/plot`
//! and `bench/summarize.py`; described in bench/README.md):
//!
//! ```text
//! { schema, tool, system, label, started_at, machine: {loadavg_1m, cpus}, client_cpu_s,
//!   config: {mode, api, connections, producers, concurrency, in_flight_per_connection,
//!            message_size, batch_size, duration_s, ...},
//!   phases: [ {name, duration_s, requests, messages, errors, throughput_msgs_per_s,
//!              throughput_mb_per_s, latency_ms: {p50, p90, p99, p999, max, mean},
//!              histogram: [{le_ms, count}], ...phase extras} ],
//!   ...the first phase's figures again at the top level (the summary `--output json` always had) }
//! ```
//!
//! A new mode (Kafka Produce/Fetch, consumer groups) adds its phases with their own names and its
//! knobs to `config`; readers pick phases by name.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Upper bounds of the histogram buckets in milliseconds: 1-2-5 steps, the same in every bench tool.
pub const BUCKETS_MS: &[f64] = &[
    0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
    5000.0, 10000.0, 60000.0,
];

/// What one phase of a run measured; shared by its tasks.
pub struct Phase {
    pub name: &'static str,
    /// Request latencies in microseconds, 1 µs to 60 s.
    latency: Mutex<Histogram<u64>>,
}

impl Phase {
    pub fn new(name: &'static str) -> Phase {
        Phase {
            name,
            latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds")),
        }
    }

    pub fn record(&self, took: Duration) {
        self.latency
            .lock()
            .expect("histogram lock")
            .saturating_record(took.as_micros().max(1) as u64);
    }

    pub fn snapshot(&self) -> Histogram<u64> {
        self.latency.lock().expect("histogram lock").clone()
    }

    /// This phase's object of the JSON document.
    pub fn json(&self, counts: Counts, extra: Value) -> Value {
        phase_json(self.name, &self.snapshot(), counts, extra)
    }

    pub fn p99_ms(&self) -> f64 {
        self.latency
            .lock()
            .expect("histogram lock")
            .value_at_quantile(0.99) as f64
            / 1000.0
    }
}

/// Counts that become a phase's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub messages: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub message_size: usize,
}

/// Non-cumulative counts per bucket of [`BUCKETS_MS`] (values above the last bound land in it).
pub fn buckets(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    let mut below = 0u64;
    let last = BUCKETS_MS.len() - 1;
    BUCKETS_MS
        .iter()
        .enumerate()
        .map(|(i, &le)| {
            let upto = if i == last {
                h.len()
            } else {
                h.count_between(0, (le * 1000.0) as u64)
            };
            let n = upto.saturating_sub(below);
            below = upto;
            (le, n)
        })
        .collect()
}

/// The phase object of the JSON document.
pub fn phase_json(name: &str, h: &Histogram<u64>, c: Counts, extra: Value) -> Value {
    let secs = c.elapsed.as_secs_f64().max(1e-9);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mut v = json!({
        "name": name,
        "duration_s": secs,
        "requests": h.len(),
        "messages": c.messages,
        "errors": c.errors,
        "throughput_msgs_per_s": c.messages as f64 / secs,
        "throughput_mb_per_s": c.messages as f64 * c.message_size as f64 / secs / 1e6,
        "latency_ms": {
            "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p999": ms(0.999),
            "max": h.max() as f64 / 1000.0, "mean": h.mean() / 1000.0,
        },
        "histogram": buckets(h).into_iter().map(|(le, n)| json!({"le_ms": le, "count": n})).collect::<Vec<_>>(),
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

/// A phase for a person: throughput, percentiles and the histogram as bars.
pub fn print_phase(p: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let l = &p["latency_ms"];
    println!(
        "{}: {} messages in {:.2}s: {:.0} msg/s, {:.2} MB/s ({} requests, {} errors)",
        p["name"].as_str().unwrap_or("?"),
        p["messages"],
        f(&p["duration_s"]),
        f(&p["throughput_msgs_per_s"]),
        f(&p["throughput_mb_per_s"]),
        p["requests"],
        p["errors"],
    );
    println!(
        "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        f(&l["p50"]),
        f(&l["p90"]),
        f(&l["p99"]),
        f(&l["p999"]),
        f(&l["max"])
    );
    let rows: Vec<(f64, u64)> = p["histogram"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| (f(&b["le_ms"]), b["count"].as_u64().unwrap_or(0)))
        .collect();
    let (Some(first), Some(last)) = (
        rows.iter().position(|r| r.1 > 0),
        rows.iter().rposition(|r| r.1 > 0),
    ) else {
        return;
    };
    let total: u64 = rows.iter().map(|r| r.1).sum();
    for &(le, n) in &rows[first..=last] {
        let bar = "#".repeat(((n as f64 / total as f64) * 50.0).round() as usize);
        println!("  <= {le:>7} ms {n:>10}  {bar}");
    }
    for (k, v) in p.as_object().into_iter().flatten() {
        if k == "memory" {
            println!("  node memory (RSS) MB: {v}");
        }
    }
}

/// CPU seconds this process used (user + system): how much of the machine the bench itself took.
pub fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The whole document: envelope, config, phases, and the first phase's figures at the top level.
pub fn document(
    label: &str,
    config: Value,
    phases: Vec<Value>,
    legacy: Map<String, Value>,
) -> Value {
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    });
    let mut doc = json!({
        "schema": "jumpnet-bench/1",
        "tool": "jumpnet bench",
        "system": "jumpnet",
        "label": label,
        "started_at": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "machine": {
            "loadavg_1m": load,
            "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        "client_cpu_s": own_cpu_seconds(),
        "config": config,
    });
    if let Some(first) = phases.first() {
        for k in [
            "requests",
            "errors",
            "throughput_msgs_per_s",
            "throughput_mb_per_s",
            "latency_ms",
        ] {
            doc[k] = first[k].clone();
        }
    }
    doc["phases"] = Value::Array(phases);
    if let Some(o) = doc.as_object_mut() {
        o.extend(legacy);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in values_us {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn buckets_count_each_latency_once_in_the_first_bound_above_it() {
        let h = hist(&[30, 80, 150, 900, 1_500, 60_000_000]);
        let b = buckets(&h);
        assert_eq!(b.len(), BUCKETS_MS.len());
        assert_eq!(b.iter().map(|x| x.1).sum::<u64>(), h.len());
        let at = |le: f64| b.iter().find(|x| x.0 == le).unwrap().1;
        assert_eq!(at(0.05), 1);
        assert_eq!(at(0.1), 1);
        assert_eq!(at(0.2), 1);
        assert_eq!(at(1.0), 1);
        assert_eq!(at(2.0), 1);
        assert_eq!(at(60000.0), 1, "the slowest lands in the last bucket");
    }

    #[test]
    fn phase_json_has_ordered_percentiles_and_throughput() {
        let h = hist(&(1..=1000).map(|i| i * 10).collect::<Vec<_>>());
        let c = Counts {
            messages: 2000,
            errors: 1,
            elapsed: Duration::from_secs(2),
            message_size: 100,
        };
        let p = phase_json("publish", &h, c, json!({"extra": 7}));
        let l = &p["latency_ms"];
        let q: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
            .iter()
            .map(|k| l[k].as_f64().unwrap())
            .collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{l}");
        assert!(
            (q[0] - 5.0).abs() < 0.1,
            "p50 of 10 µs..10 ms is ~5 ms: {l}"
        );
        assert_eq!(p["throughput_msgs_per_s"].as_f64(), Some(1000.0));
        assert_eq!(p["throughput_mb_per_s"].as_f64(), Some(0.1));
        assert_eq!(p["requests"].as_u64(), Some(1000));
        assert_eq!(p["extra"].as_u64(), Some(7));
    }

    #[test]
    fn document_carries_the_schema_and_the_first_phase_at_the_top() {
        let h = hist(&[100, 200]);
        let c = Counts {
            messages: 2,
            elapsed: Duration::from_secs(1),
            ..Counts::default()
        };
        let phases = vec![phase_json("publish", &h, c, Value::Null)];
        let mut legacy = Map::new();
        legacy.insert("messages_sent".into(), json!(2));
        let d = document("x", json!({"connections": 1}), phases, legacy);
        assert_eq!(d["schema"], "jumpnet-bench/1");
        assert_eq!(d["phases"][0]["name"], "publish");
        assert_eq!(d["requests"].as_u64(), Some(2));
        assert_eq!(d["messages_sent"].as_u64(), Some(2));
        assert_eq!(d["config"]["connections"].as_u64(), Some(1));
    }
}
