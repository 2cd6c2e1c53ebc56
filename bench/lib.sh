# shellcheck shell=bash
# Shared by the bench/ scripts: a work dir removed on exit, ports from a range of our own, 3-node
# clusters of Jumpnet, etcd and NATS JetStream on loopback, the load generator, result files.
# Source it after `set -euo pipefail`; every process started here is killed on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
JUMPNET=${JUMPNET_BIN:?}
LOADGEN=${LOADGEN_BIN:-$BENCH_DIR/loadgen/target/release/jumpnet-loadgen}
WORK=$(mktemp -d /tmp/jumpnet-bench.XXXXXX)
PIDS=()
VALUE_SIZE=${BENCH_MESSAGE_SIZE:-100}
# Connection counts to run at (a list gives the points of bench/plot's throughput-vs-connections).
CONNECTIONS_LIST=${BENCH_CONNECTIONS:-64}

# spawn CMD...: run in the background, remembered for cleanup (disowned: no job-control noise).
spawn() { "$@" & LAST_PID=$!; PIDS+=("$LAST_PID"); disown "$LAST_PID"; }
# reap PID...: TERM, then KILL whatever still runs after 5 s.
reap() {
  local p end=$((SECONDS + 5))
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    while kill -0 "$p" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}
bench_cleanup() {
  ((${#PIDS[@]})) && reap "${PIDS[@]}"
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

# A base port nobody listens around: 100 ports from a random block in 20000-31999 (others run
# clusters on this machine at the same time; never the default ports).
pick_base() {
  local base tries=0
  while ((tries++ < 50)); do
    base=$((20000 + (RANDOM % 120) * 100))  # below the ephemeral range (32768+)
    if ! ss -Htln | awk '{print $4}' | grep -qE ":($base|$((base + 1))[0-9]|$((base + 9))[0-9])\$"; then
      echo "$base"; return 0
    fi
  done
  die "no free port block"
}
BASE=${BENCH_PORT_BASE:-$(pick_base)}

wait_http() { wait_for 30 "$1" curl -sf -o /dev/null "$1"; }

need() { local t; for t in "$@"; do command -v "$t" >/dev/null || die "missing $t: run bench/install.sh"; done; }

ensure_loadgen() {
  [[ -x $LOADGEN && $LOADGEN -nt $BENCH_DIR/loadgen/src/main.rs ]] && return 0
  log "building the load generator (bench/loadgen)"
  (cd "$BENCH_DIR/loadgen" && nice -n 10 cargo build --release --locked -q)
}

ensure_jumpnet() {
  [[ -x $JUMPNET ]] || die "no $JUMPNET: cargo build --release --target $CARGO_TARGET_TRIPLE -p jumpnet-broker"
}

# Jumpnet, 3 nodes as the seed's command lines start them: API on BASE+11..13, raft on BASE+21..23.
JN_API=()
JN_PIDS=()
start_jumpnet3() {
  local i
  JN_API=("" "127.0.0.1:$((BASE + 11))" "127.0.0.1:$((BASE + 12))" "127.0.0.1:$((BASE + 13))")
  for i in 1 2 3; do jn_start "$i"; [[ $i == 1 ]] && wait_http "http://${JN_API[1]}/readyz"; done
  for i in 2 3; do wait_http "http://${JN_API[$i]}/readyz"; done
}
jn_start() { # jn_start N [extra flags...]: (re)start node N on its state dir
  local i=$1; shift
  local join=()
  [[ $i != 1 ]] && join=(-join "127.0.0.1:$((BASE + 21))")
  spawn "$JUMPNET" -state_dir "$WORK/jn$i" -raft "127.0.0.1:$((BASE + 20 + i))" -api "${JN_API[$i]}" \
    "${join[@]}" "$@" >>"$WORK/jn$i.log" 2>&1
  JN_PIDS[i]=$LAST_PID
}
stop_jumpnet3() { reap "${JN_PIDS[@]:1}"; }
jn_leader_api() { # the API address of the current leader
  local id
  id=$(curl -sf "http://${JN_API[1]}/v1/cluster" | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
  curl -sf "http://${JN_API[1]}/v1/cluster" | python3 -c "import json,sys; v=json.load(sys.stdin); print([m['api_addr'] for m in v['members'] if m['id']==$id][0])"
}

# etcd 3.4, 3 members, default durability (the WAL fsynced before a put is answered).
ETCD_CLIENT=""
ETCD_PIDS=()
start_etcd3() {
  local i cluster=""
  for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((BASE + 40 + i))"; done
  for i in 1 2 3; do
    spawn etcd --name "e$i" --data-dir "$WORK/etcd$i" \
      --listen-client-urls "http://127.0.0.1:$((BASE + 30 + i))" --advertise-client-urls "http://127.0.0.1:$((BASE + 30 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((BASE + 40 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 40 + i))" \
      --initial-cluster "$cluster" --initial-cluster-state new --log-level error >"$WORK/etcd$i.log" 2>&1
    ETCD_PIDS+=("$LAST_PID")
  done
  for i in 1 2 3; do wait_http "http://127.0.0.1:$((BASE + 30 + i))/health"; done
  ETCD_CLIENT="127.0.0.1:$((BASE + 31))"
}
stop_etcd3() { reap "${ETCD_PIDS[@]}"; ETCD_PIDS=(); }

# NATS JetStream 2.9, 3 servers, file storage: clients on BASE+51..53, routes on BASE+61..63.
NATS_URL=()
NATS_PIDS=()
start_nats3() {
  local i routes=""
  for i in 1 2 3; do routes+="${routes:+, }\"nats-route://127.0.0.1:$((BASE + 60 + i))\""; done
  for i in 1 2 3; do
    mkdir -p "$WORK/nats$i"
    cat >"$WORK/nats$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((BASE + 50 + i))
jetstream { store_dir: "$WORK/nats$i", max_file_store: 20GB, max_memory_store: 1GB }
cluster { name: bench, listen: 127.0.0.1:$((BASE + 60 + i)), routes: [ $routes ] }
CONF
    spawn nats-server -c "$WORK/nats$i.conf" >"$WORK/nats$i.log" 2>&1
    NATS_PIDS+=("$LAST_PID")
    NATS_URL[i]="nats://127.0.0.1:$((BASE + 50 + i))"
  done
}
stop_nats3() { reap "${NATS_PIDS[@]}"; NATS_PIDS=(); }
# nats_stream ARGS...: create the stream once JetStream has its meta leader; prints the stream leader's URL.
nats_stream() {
  local end=$((SECONDS + 60)) leader
  until leader=$("$LOADGEN" nats-stream --servers "${NATS_URL[1]}" "$@" 2>>"$WORK/nats-stream.err"); do
    ((SECONDS < end)) || { tail -5 "$WORK/nats-stream.err" >&2; die "JetStream did not come up"; }
    sleep 0.5
  done
  echo "${NATS_URL[${leader#n}]}"
}

# Medians, ratios and the table of a results directory.
summarize() { python3 "$BENCH_DIR/summarize.py" "$@"; }
