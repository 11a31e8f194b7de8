//! containerd's cgroup metrics (`Tasks.Metrics`) turned into the stats JSON.
//!
//! `Tasks.Metrics` answers with a `containerd.types.Metric` whose `data` is an `Any`
//! holding the cgroup statistics the runc shim collected: an
//! `io.containerd.cgroups.v1.Metrics` on cgroups v1 (and the hybrid layout) or an
//! `io.containerd.cgroups.v2.Metrics` on the unified hierarchy. The messages below
//! mirror `stats/v1/metrics.proto` and `v2/stats/metrics.proto` of
//! `github.com/containerd/cgroups` v1.1.0 (the version containerd 1.6 uses), plus
//! `max_usage`/`swap_max_usage` (36, 37) that later versions added to the v2 memory
//! message. Only the fields the JSON shows are declared; prost skips the others.
//!
//! The JSON (see DESIGN.md §5) has the same top-level keys for both versions:
//! `read`, `cgroup` (`"v1"` or `"v2"`), `cpu`, `memory`, `pids`, `blkio` and
//! `hugetlb`. CPU times are nanoseconds and memory figures bytes in both.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::error::{Code, Error, Result};
use crate::timefmt::{rfc3339_system_time, rfc3339_timestamp};

/// Type URL of cgroups v1 metrics, as containerd's `typeurl` writes it.
pub const V1_TYPE_URL: &str = "io.containerd.cgroups.v1.Metrics";
/// Type URL of cgroups v2 metrics.
pub const V2_TYPE_URL: &str = "io.containerd.cgroups.v2.Metrics";

pub mod v1;
pub mod v2;

/// The stats JSON of one `Tasks.Metrics` answer (DESIGN.md §5).
///
/// `read` is `metric.timestamp` in RFC 3339 (UTC, milliseconds); the current time when
/// containerd sent none. An unknown metrics type is UNSUPPORTED (naming the type URL);
/// a missing or undecodable payload is INTERNAL.
pub fn stats_json(metric: &containerd_client::types::Metric) -> Result<Value> {
    let read = match &metric.timestamp {
        Some(ts) => rfc3339_timestamp(ts),
        None => rfc3339_system_time(SystemTime::now()),
    };
    let any = metric
        .data
        .as_ref()
        .ok_or_else(|| Error::internal(format!("metrics of \"{}\": containerd sent no data", metric.id)))?;
    // containerd's typeurl writes the bare message name; accept a `host/` prefix too.
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let decode_err = |e: prost::DecodeError| {
        Error::internal(format!("metrics of \"{}\": cannot decode {}: {e}", metric.id, any.type_url))
    };
    let mut out = match name {
        V1_TYPE_URL => {
            let m = <v1::Metrics as prost::Message>::decode(any.value.as_slice()).map_err(decode_err)?;
            v1_json(&m)
        }
        V2_TYPE_URL => {
            let m = <v2::Metrics as prost::Message>::decode(any.value.as_slice()).map_err(decode_err)?;
            v2_json(&m)
        }
        _ => {
            return Err(Error::new(
                Code::Unsupported,
                format!("metrics of \"{}\": unsupported metrics type \"{}\"", metric.id, any.type_url),
            ))
        }
    };
    out.insert("read".into(), Value::String(read));
    Ok(Value::Object(out))
}

fn memory_entry(e: Option<&v1::MemoryEntry>) -> Value {
    let d = v1::MemoryEntry::default();
    let e = e.unwrap_or(&d);
    json!({"usage": e.usage, "max": e.max, "limit": e.limit, "failcnt": e.failcnt})
}

fn blkio_entries(entries: &[v1::BlkIoEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| json!({"op": e.op, "device": e.device, "major": e.major, "minor": e.minor, "value": e.value}))
            .collect(),
    )
}

fn v1_json(m: &v1::Metrics) -> Map<String, Value> {
    let cpu = m.cpu.clone().unwrap_or_default();
    let usage = cpu.usage.unwrap_or_default();
    let thr = cpu.throttling.unwrap_or_default();
    let mem = m.memory.clone().unwrap_or_default();
    let pids = m.pids.clone().unwrap_or_default();
    let blk = m.blkio.clone().unwrap_or_default();

    let mut memory = Map::new();
    memory.insert("usage".into(), memory_entry(mem.usage.as_ref()));
    memory.insert("swap".into(), memory_entry(mem.swap.as_ref()));
    memory.insert("kernel".into(), memory_entry(mem.kernel.as_ref()));
    memory.insert("kernel_tcp".into(), memory_entry(mem.kernel_tcp.as_ref()));
    let counters: [(&str, u64); 32] = [
        ("cache", mem.cache),
        ("rss", mem.rss),
        ("rss_huge", mem.rss_huge),
        ("mapped_file", mem.mapped_file),
        ("dirty", mem.dirty),
        ("writeback", mem.writeback),
        ("pg_pg_in", mem.pg_pg_in),
        ("pg_pg_out", mem.pg_pg_out),
        ("pg_fault", mem.pg_fault),
        ("pg_maj_fault", mem.pg_maj_fault),
        ("inactive_anon", mem.inactive_anon),
        ("active_anon", mem.active_anon),
        ("inactive_file", mem.inactive_file),
        ("active_file", mem.active_file),
        ("unevictable", mem.unevictable),
        ("hierarchical_memory_limit", mem.hierarchical_memory_limit),
        ("hierarchical_swap_limit", mem.hierarchical_swap_limit),
        ("total_cache", mem.total_cache),
        ("total_rss", mem.total_rss),
        ("total_rss_huge", mem.total_rss_huge),
        ("total_mapped_file", mem.total_mapped_file),
        ("total_dirty", mem.total_dirty),
        ("total_writeback", mem.total_writeback),
        ("total_pg_pg_in", mem.total_pg_pg_in),
        ("total_pg_pg_out", mem.total_pg_pg_out),
        ("total_pg_fault", mem.total_pg_fault),
        ("total_pg_maj_fault", mem.total_pg_maj_fault),
        ("total_inactive_anon", mem.total_inactive_anon),
        ("total_active_anon", mem.total_active_anon),
        ("total_inactive_file", mem.total_inactive_file),
        ("total_active_file", mem.total_active_file),
        ("total_unevictable", mem.total_unevictable),
    ];
    for (k, v) in counters {
        memory.insert(k.into(), v.into());
    }

    let mut out = Map::new();
    out.insert("cgroup".into(), "v1".into());
    out.insert(
        "cpu".into(),
        json!({
            "usage": {"total": usage.total, "kernel": usage.kernel, "user": usage.user, "per_cpu": usage.per_cpu},
            "throttling": {
                "periods": thr.periods,
                "throttled_periods": thr.throttled_periods,
                "throttled_time": thr.throttled_time,
            },
        }),
    );
    out.insert("memory".into(), Value::Object(memory));
    out.insert("pids".into(), json!({"current": pids.current, "limit": pids.limit}));
    out.insert(
        "blkio".into(),
        json!({
            "io_service_bytes_recursive": blkio_entries(&blk.io_service_bytes_recursive),
            "io_serviced_recursive": blkio_entries(&blk.io_serviced_recursive),
            "io_queued_recursive": blkio_entries(&blk.io_queued_recursive),
            "io_service_time_recursive": blkio_entries(&blk.io_service_time_recursive),
            "io_wait_time_recursive": blkio_entries(&blk.io_wait_time_recursive),
            "io_merged_recursive": blkio_entries(&blk.io_merged_recursive),
            "io_time_recursive": blkio_entries(&blk.io_time_recursive),
            "sectors_recursive": blkio_entries(&blk.sectors_recursive),
        }),
    );
    out.insert(
        "hugetlb".into(),
        Value::Array(
            m.hugetlb
                .iter()
                .map(|h| json!({"pagesize": h.pagesize, "usage": h.usage, "max": h.max, "failcnt": h.failcnt}))
                .collect(),
        ),
    );
    out
}

/// Maps v2 onto the v1 shape: µs become ns, `usage`/`usage_limit`/`max_usage` fill
/// `memory.usage` (with `failcnt` from memory.events `max`), the swap figures
/// `memory.swap`, and io.stat becomes `blkio.io_service_bytes_recursive` and
/// `blkio.io_serviced_recursive` with ops `Read` and `Write`. v1-only figures are 0 or
/// empty; the v2 memory counters appear under their own names, with `cache` (file)
/// and `rss` (anon) alongside.
fn v2_json(m: &v2::Metrics) -> Map<String, Value> {
    const NS_PER_US: u64 = 1000;
    let cpu = m.cpu.clone().unwrap_or_default();
    let mem = m.memory.clone().unwrap_or_default();
    let ev = m.memory_events.clone().unwrap_or_default();
    let pids = m.pids.clone().unwrap_or_default();
    let io = m.io.clone().unwrap_or_default();

    let mut memory = Map::new();
    memory.insert(
        "usage".into(),
        json!({"usage": mem.usage, "max": mem.max_usage, "limit": mem.usage_limit, "failcnt": ev.max}),
    );
    memory.insert(
        "swap".into(),
        json!({"usage": mem.swap_usage, "max": mem.swap_max_usage, "limit": mem.swap_limit, "failcnt": 0}),
    );
    let counters: [(&str, u64); 21] = [
        ("cache", mem.file),
        ("rss", mem.anon),
        ("anon", mem.anon),
        ("file", mem.file),
        ("kernel_stack", mem.kernel_stack),
        ("slab", mem.slab),
        ("sock", mem.sock),
        ("shmem", mem.shmem),
        ("file_mapped", mem.file_mapped),
        ("file_dirty", mem.file_dirty),
        ("file_writeback", mem.file_writeback),
        ("anon_thp", mem.anon_thp),
        ("inactive_anon", mem.inactive_anon),
        ("active_anon", mem.active_anon),
        ("inactive_file", mem.inactive_file),
        ("active_file", mem.active_file),
        ("unevictable", mem.unevictable),
        ("slab_reclaimable", mem.slab_reclaimable),
        ("slab_unreclaimable", mem.slab_unreclaimable),
        ("pgfault", mem.pgfault),
        ("pgmajfault", mem.pgmajfault),
    ];
    for (k, v) in counters {
        memory.insert(k.into(), v.into());
    }
    memory.insert(
        "events".into(),
        json!({"low": ev.low, "high": ev.high, "max": ev.max, "oom": ev.oom, "oom_kill": ev.oom_kill}),
    );

    let per_dev = |op: &str, f: fn(&v2::IoEntry) -> u64| -> Vec<Value> {
        io.usage
            .iter()
            .map(|e| json!({"op": op, "device": "", "major": e.major, "minor": e.minor, "value": f(e)}))
            .collect()
    };
    let interleave = |a: Vec<Value>, b: Vec<Value>| -> Value {
        Value::Array(a.into_iter().zip(b).flat_map(|(x, y)| [x, y]).collect())
    };
    let bytes = interleave(per_dev("Read", |e| e.rbytes), per_dev("Write", |e| e.wbytes));
    let ios = interleave(per_dev("Read", |e| e.rios), per_dev("Write", |e| e.wios));

    let mut out = Map::new();
    out.insert("cgroup".into(), "v2".into());
    out.insert(
        "cpu".into(),
        json!({
            "usage": {
                "total": cpu.usage_usec.saturating_mul(NS_PER_US),
                "kernel": cpu.system_usec.saturating_mul(NS_PER_US),
                "user": cpu.user_usec.saturating_mul(NS_PER_US),
                "per_cpu": [],
            },
            "throttling": {
                "periods": cpu.nr_periods,
                "throttled_periods": cpu.nr_throttled,
                "throttled_time": cpu.throttled_usec.saturating_mul(NS_PER_US),
            },
        }),
    );
    out.insert("memory".into(), Value::Object(memory));
    out.insert("pids".into(), json!({"current": pids.current, "limit": pids.limit}));
    out.insert(
        "blkio".into(),
        json!({
            "io_service_bytes_recursive": bytes,
            "io_serviced_recursive": ios,
            "io_queued_recursive": [],
            "io_service_time_recursive": [],
            "io_wait_time_recursive": [],
            "io_merged_recursive": [],
            "io_time_recursive": [],
            "sectors_recursive": [],
        }),
    );
    out.insert(
        "hugetlb".into(),
        Value::Array(
            m.hugetlb
                .iter()
                .map(|h| json!({"pagesize": h.pagesize, "usage": h.current, "max": 0, "limit": h.max, "failcnt": 0}))
                .collect(),
        ),
    );
    out
}

#[cfg(test)]
mod tests;
