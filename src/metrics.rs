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

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::error::{Code, Error, Result};

/// Type URL of cgroups v1 metrics, as containerd's `typeurl` writes it.
pub const V1_TYPE_URL: &str = "io.containerd.cgroups.v1.Metrics";
/// Type URL of cgroups v2 metrics.
pub const V2_TYPE_URL: &str = "io.containerd.cgroups.v2.Metrics";

/// `io.containerd.cgroups.v1` messages (cgroups `stats/v1/metrics.proto`).
pub mod v1 {
    /// `io.containerd.cgroups.v1.Metrics`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metrics {
        /// One entry per huge page size.
        #[prost(message, repeated, tag = "1")]
        pub hugetlb: Vec<HugetlbStat>,
        /// pids controller.
        #[prost(message, optional, tag = "2")]
        pub pids: Option<PidsStat>,
        /// cpu and cpuacct controllers.
        #[prost(message, optional, tag = "3")]
        pub cpu: Option<CpuStat>,
        /// memory controller.
        #[prost(message, optional, tag = "4")]
        pub memory: Option<MemoryStat>,
        /// blkio controller.
        #[prost(message, optional, tag = "5")]
        pub blkio: Option<BlkIoStat>,
    }

    /// `HugetlbStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HugetlbStat {
        /// Bytes in use.
        #[prost(uint64, tag = "1")]
        pub usage: u64,
        /// Highest usage recorded.
        #[prost(uint64, tag = "2")]
        pub max: u64,
        /// Times the limit was hit.
        #[prost(uint64, tag = "3")]
        pub failcnt: u64,
        /// Page size, e.g. `2MB`.
        #[prost(string, tag = "4")]
        pub pagesize: String,
    }

    /// `PidsStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PidsStat {
        /// Tasks in the cgroup.
        #[prost(uint64, tag = "1")]
        pub current: u64,
        /// pids.max (0: no limit).
        #[prost(uint64, tag = "2")]
        pub limit: u64,
    }

    /// `CPUStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CpuStat {
        /// cpuacct usage.
        #[prost(message, optional, tag = "1")]
        pub usage: Option<CpuUsage>,
        /// CFS throttling.
        #[prost(message, optional, tag = "2")]
        pub throttling: Option<Throttle>,
    }

    /// `CPUUsage` (nanoseconds).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CpuUsage {
        /// Total CPU time.
        #[prost(uint64, tag = "1")]
        pub total: u64,
        /// Time in kernel mode.
        #[prost(uint64, tag = "2")]
        pub kernel: u64,
        /// Time in user mode.
        #[prost(uint64, tag = "3")]
        pub user: u64,
        /// Total per CPU.
        #[prost(uint64, repeated, tag = "4")]
        pub per_cpu: Vec<u64>,
    }

    /// `Throttle`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Throttle {
        /// Enforcement periods elapsed.
        #[prost(uint64, tag = "1")]
        pub periods: u64,
        /// Periods in which the cgroup was throttled.
        #[prost(uint64, tag = "2")]
        pub throttled_periods: u64,
        /// Total throttled time (ns).
        #[prost(uint64, tag = "3")]
        pub throttled_time: u64,
    }

    /// `MemoryStat` (bytes, except the page-fault and page-in/out counters).
    #[derive(Clone, PartialEq, prost::Message)]
    #[allow(missing_docs)]
    pub struct MemoryStat {
        #[prost(uint64, tag = "1")]
        pub cache: u64,
        #[prost(uint64, tag = "2")]
        pub rss: u64,
        #[prost(uint64, tag = "3")]
        pub rss_huge: u64,
        #[prost(uint64, tag = "4")]
        pub mapped_file: u64,
        #[prost(uint64, tag = "5")]
        pub dirty: u64,
        #[prost(uint64, tag = "6")]
        pub writeback: u64,
        #[prost(uint64, tag = "7")]
        pub pg_pg_in: u64,
        #[prost(uint64, tag = "8")]
        pub pg_pg_out: u64,
        #[prost(uint64, tag = "9")]
        pub pg_fault: u64,
        #[prost(uint64, tag = "10")]
        pub pg_maj_fault: u64,
        #[prost(uint64, tag = "11")]
        pub inactive_anon: u64,
        #[prost(uint64, tag = "12")]
        pub active_anon: u64,
        #[prost(uint64, tag = "13")]
        pub inactive_file: u64,
        #[prost(uint64, tag = "14")]
        pub active_file: u64,
        #[prost(uint64, tag = "15")]
        pub unevictable: u64,
        #[prost(uint64, tag = "16")]
        pub hierarchical_memory_limit: u64,
        #[prost(uint64, tag = "17")]
        pub hierarchical_swap_limit: u64,
        #[prost(uint64, tag = "18")]
        pub total_cache: u64,
        #[prost(uint64, tag = "19")]
        pub total_rss: u64,
        #[prost(uint64, tag = "20")]
        pub total_rss_huge: u64,
        #[prost(uint64, tag = "21")]
        pub total_mapped_file: u64,
        #[prost(uint64, tag = "22")]
        pub total_dirty: u64,
        #[prost(uint64, tag = "23")]
        pub total_writeback: u64,
        #[prost(uint64, tag = "24")]
        pub total_pg_pg_in: u64,
        #[prost(uint64, tag = "25")]
        pub total_pg_pg_out: u64,
        #[prost(uint64, tag = "26")]
        pub total_pg_fault: u64,
        #[prost(uint64, tag = "27")]
        pub total_pg_maj_fault: u64,
        #[prost(uint64, tag = "28")]
        pub total_inactive_anon: u64,
        #[prost(uint64, tag = "29")]
        pub total_active_anon: u64,
        #[prost(uint64, tag = "30")]
        pub total_inactive_file: u64,
        #[prost(uint64, tag = "31")]
        pub total_active_file: u64,
        #[prost(uint64, tag = "32")]
        pub total_unevictable: u64,
        #[prost(message, optional, tag = "33")]
        pub usage: Option<MemoryEntry>,
        #[prost(message, optional, tag = "34")]
        pub swap: Option<MemoryEntry>,
        #[prost(message, optional, tag = "35")]
        pub kernel: Option<MemoryEntry>,
        #[prost(message, optional, tag = "36")]
        pub kernel_tcp: Option<MemoryEntry>,
    }

    /// `MemoryEntry` (bytes).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryEntry {
        /// The limit.
        #[prost(uint64, tag = "1")]
        pub limit: u64,
        /// Current usage.
        #[prost(uint64, tag = "2")]
        pub usage: u64,
        /// Highest usage recorded.
        #[prost(uint64, tag = "3")]
        pub max: u64,
        /// Times the limit was hit.
        #[prost(uint64, tag = "4")]
        pub failcnt: u64,
    }

    /// `BlkIOStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    #[allow(missing_docs)]
    pub struct BlkIoStat {
        #[prost(message, repeated, tag = "1")]
        pub io_service_bytes_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "2")]
        pub io_serviced_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "3")]
        pub io_queued_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "4")]
        pub io_service_time_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "5")]
        pub io_wait_time_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "6")]
        pub io_merged_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "7")]
        pub io_time_recursive: Vec<BlkIoEntry>,
        #[prost(message, repeated, tag = "8")]
        pub sectors_recursive: Vec<BlkIoEntry>,
    }

    /// `BlkIOEntry`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlkIoEntry {
        /// Operation, e.g. `Read`, `Write`, `Total` (empty for the counters without one).
        #[prost(string, tag = "1")]
        pub op: String,
        /// Device name, when known.
        #[prost(string, tag = "2")]
        pub device: String,
        /// Device major number.
        #[prost(uint64, tag = "3")]
        pub major: u64,
        /// Device minor number.
        #[prost(uint64, tag = "4")]
        pub minor: u64,
        /// The figure.
        #[prost(uint64, tag = "5")]
        pub value: u64,
    }
}

/// `io.containerd.cgroups.v2` messages (cgroups `v2/stats/metrics.proto`).
pub mod v2 {
    /// `io.containerd.cgroups.v2.Metrics`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metrics {
        /// pids controller.
        #[prost(message, optional, tag = "1")]
        pub pids: Option<PidsStat>,
        /// cpu controller.
        #[prost(message, optional, tag = "2")]
        pub cpu: Option<CpuStat>,
        /// memory controller.
        #[prost(message, optional, tag = "4")]
        pub memory: Option<MemoryStat>,
        /// io controller.
        #[prost(message, optional, tag = "6")]
        pub io: Option<IoStat>,
        /// One entry per huge page size.
        #[prost(message, repeated, tag = "7")]
        pub hugetlb: Vec<HugeTlbStat>,
        /// memory.events.
        #[prost(message, optional, tag = "8")]
        pub memory_events: Option<MemoryEvents>,
    }

    /// `PidsStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PidsStat {
        /// Tasks in the cgroup.
        #[prost(uint64, tag = "1")]
        pub current: u64,
        /// pids.max (0: no limit).
        #[prost(uint64, tag = "2")]
        pub limit: u64,
    }

    /// `CPUStat` (microseconds).
    #[derive(Clone, PartialEq, prost::Message)]
    #[allow(missing_docs)]
    pub struct CpuStat {
        #[prost(uint64, tag = "1")]
        pub usage_usec: u64,
        #[prost(uint64, tag = "2")]
        pub user_usec: u64,
        #[prost(uint64, tag = "3")]
        pub system_usec: u64,
        #[prost(uint64, tag = "4")]
        pub nr_periods: u64,
        #[prost(uint64, tag = "5")]
        pub nr_throttled: u64,
        #[prost(uint64, tag = "6")]
        pub throttled_usec: u64,
    }

    /// `MemoryStat` (bytes, except the event counters).
    #[derive(Clone, PartialEq, prost::Message)]
    #[allow(missing_docs)]
    pub struct MemoryStat {
        #[prost(uint64, tag = "1")]
        pub anon: u64,
        #[prost(uint64, tag = "2")]
        pub file: u64,
        #[prost(uint64, tag = "3")]
        pub kernel_stack: u64,
        #[prost(uint64, tag = "4")]
        pub slab: u64,
        #[prost(uint64, tag = "5")]
        pub sock: u64,
        #[prost(uint64, tag = "6")]
        pub shmem: u64,
        #[prost(uint64, tag = "7")]
        pub file_mapped: u64,
        #[prost(uint64, tag = "8")]
        pub file_dirty: u64,
        #[prost(uint64, tag = "9")]
        pub file_writeback: u64,
        #[prost(uint64, tag = "10")]
        pub anon_thp: u64,
        #[prost(uint64, tag = "11")]
        pub inactive_anon: u64,
        #[prost(uint64, tag = "12")]
        pub active_anon: u64,
        #[prost(uint64, tag = "13")]
        pub inactive_file: u64,
        #[prost(uint64, tag = "14")]
        pub active_file: u64,
        #[prost(uint64, tag = "15")]
        pub unevictable: u64,
        #[prost(uint64, tag = "16")]
        pub slab_reclaimable: u64,
        #[prost(uint64, tag = "17")]
        pub slab_unreclaimable: u64,
        #[prost(uint64, tag = "18")]
        pub pgfault: u64,
        #[prost(uint64, tag = "19")]
        pub pgmajfault: u64,
        #[prost(uint64, tag = "32")]
        pub usage: u64,
        #[prost(uint64, tag = "33")]
        pub usage_limit: u64,
        #[prost(uint64, tag = "34")]
        pub swap_usage: u64,
        #[prost(uint64, tag = "35")]
        pub swap_limit: u64,
        #[prost(uint64, tag = "36")]
        pub max_usage: u64,
        #[prost(uint64, tag = "37")]
        pub swap_max_usage: u64,
    }

    /// `MemoryEvents` (memory.events counters).
    #[derive(Clone, PartialEq, prost::Message)]
    #[allow(missing_docs)]
    pub struct MemoryEvents {
        #[prost(uint64, tag = "1")]
        pub low: u64,
        #[prost(uint64, tag = "2")]
        pub high: u64,
        #[prost(uint64, tag = "3")]
        pub max: u64,
        #[prost(uint64, tag = "4")]
        pub oom: u64,
        #[prost(uint64, tag = "5")]
        pub oom_kill: u64,
    }

    /// `IOStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct IoStat {
        /// One entry per device.
        #[prost(message, repeated, tag = "1")]
        pub usage: Vec<IoEntry>,
    }

    /// `IOEntry`.
    #[derive(Clone, PartialEq, prost::Message)]
    #[allow(missing_docs)]
    pub struct IoEntry {
        #[prost(uint64, tag = "1")]
        pub major: u64,
        #[prost(uint64, tag = "2")]
        pub minor: u64,
        #[prost(uint64, tag = "3")]
        pub rbytes: u64,
        #[prost(uint64, tag = "4")]
        pub wbytes: u64,
        #[prost(uint64, tag = "5")]
        pub rios: u64,
        #[prost(uint64, tag = "6")]
        pub wios: u64,
    }

    /// `HugeTlbStat`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HugeTlbStat {
        /// Bytes in use.
        #[prost(uint64, tag = "1")]
        pub current: u64,
        /// The limit.
        #[prost(uint64, tag = "2")]
        pub max: u64,
        /// Page size, e.g. `2MB`.
        #[prost(string, tag = "3")]
        pub pagesize: String,
    }
}

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

/// A protobuf timestamp as RFC 3339 in UTC with milliseconds,
/// e.g. `2026-11-28T12:00:00.123Z` (truncated, not rounded).
pub fn rfc3339_timestamp(ts: &prost_types::Timestamp) -> String {
    let mut ts = *ts;
    ts.normalize();
    rfc3339_millis(ts.seconds, ts.nanos as u32 / 1_000_000)
}

/// A `SystemTime` as RFC 3339 in UTC with milliseconds (times before 1970 included).
pub fn rfc3339_system_time(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => rfc3339_millis(d.as_secs() as i64, d.subsec_millis()),
        Err(e) => {
            // Before the epoch: step back to a whole second, then forward by millis.
            let d = e.duration();
            let mut secs = -(d.as_secs() as i64);
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            rfc3339_millis(secs, nanos / 1_000_000)
        }
    }
}

/// Seconds since the Unix epoch (UTC) plus milliseconds, as RFC 3339.
fn rfc3339_millis(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_client::types::Metric;
    use prost::Message;
    use std::time::Duration;

    fn metric(type_url: &str, value: Vec<u8>, secs: i64, nanos: i32) -> Metric {
        Metric {
            timestamp: Some(prost_types::Timestamp { seconds: secs, nanos }),
            id: "web".into(),
            data: Some(prost_types::Any { type_url: type_url.into(), value }),
        }
    }

    fn ts(secs: i64, nanos: i32) -> String {
        rfc3339_timestamp(&prost_types::Timestamp { seconds: secs, nanos })
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc_millis() {
        assert_eq!(ts(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(ts(1_000_000_000, 0), "2001-09-09T01:46:40.000Z");
        assert_eq!(ts(1_234_567_890, 999_999_999), "2009-02-13T23:31:30.999Z");
        // DESIGN's example.
        assert_eq!(ts(1_795_867_200, 123_456_789), "2026-11-28T12:00:00.123Z");
        // Leap years and month ends.
        assert_eq!(ts(951_782_399, 0), "2000-02-28T23:59:59.000Z");
        assert_eq!(ts(951_782_400, 0), "2000-02-29T00:00:00.000Z"); // 2000 is a leap year
        assert_eq!(ts(951_868_800, 0), "2000-03-01T00:00:00.000Z");
        assert_eq!(ts(4_107_542_400, 0), "2100-03-01T00:00:00.000Z"); // 2100 is not
        assert_eq!(ts(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
        assert_eq!(ts(1_709_164_800, 0), "2024-02-29T00:00:00.000Z");
        assert_eq!(ts(1_709_251_199, 1_000_000), "2024-02-29T23:59:59.001Z");
        assert_eq!(ts(1_677_628_799, 0), "2023-02-28T23:59:59.000Z");
        assert_eq!(ts(1_677_628_800, 0), "2023-03-01T00:00:00.000Z");
        assert_eq!(ts(1_704_067_199, 500_000_000), "2023-12-31T23:59:59.500Z");
        assert_eq!(ts(1_704_067_200, 0), "2024-01-01T00:00:00.000Z");
        assert_eq!(ts(1_719_791_999, 0), "2024-06-30T23:59:59.000Z");
        assert_eq!(ts(1_719_792_000, 0), "2024-07-01T00:00:00.000Z");
        assert_eq!(ts(253_402_300_799, 0), "9999-12-31T23:59:59.000Z");
        // Before the epoch, and a timestamp that needs normalising.
        assert_eq!(ts(-1, 0), "1969-12-31T23:59:59.000Z");
        assert_eq!(ts(-86_400, 250_000_000), "1969-12-31T00:00:00.250Z");
        assert_eq!(ts(10, -500_000_000), "1970-01-01T00:00:09.500Z");
        assert_eq!(ts(0, 2_000_000_123), "1970-01-01T00:00:02.000Z");
    }

    #[test]
    fn system_time_formats_like_the_timestamp() {
        let t = UNIX_EPOCH + Duration::new(1_795_867_200, 123_456_789);
        assert_eq!(rfc3339_system_time(t), "2026-11-28T12:00:00.123Z");
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(rfc3339_system_time(before), "1969-12-31T23:59:58.500Z");
        assert_eq!(rfc3339_system_time(UNIX_EPOCH - Duration::from_secs(86_400)), "1969-12-31T00:00:00.000Z");
    }

    #[test]
    fn civil_dates_match_a_day_by_day_walk() {
        // Walk day by day through 1600..2400 and compare with a naive calendar.
        fn leap(y: i64) -> bool {
            y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        }
        let (mut y, mut m, mut d) = (1600i64, 1u32, 1u32);
        let start = -135_140; // days from 1970-01-01 back to 1600-01-01
        for z in start..start + 2 * 146_097 {
            assert_eq!(civil_from_days(z), (y, m, d), "day {z}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert_eq!((y, m, d), (2400, 1, 1));
    }

    fn sample_v1() -> v1::Metrics {
        let entry = |limit, usage, max, failcnt| v1::MemoryEntry { limit, usage, max, failcnt };
        let blk = |op: &str, value| v1::BlkIoEntry { op: op.into(), device: "".into(), major: 8, minor: 0, value };
        v1::Metrics {
            hugetlb: vec![v1::HugetlbStat { usage: 0, max: 0, failcnt: 0, pagesize: "2MB".into() }],
            pids: Some(v1::PidsStat { current: 3, limit: 100 }),
            cpu: Some(v1::CpuStat {
                usage: Some(v1::CpuUsage { total: 123_456, kernel: 1_000, user: 2_000, per_cpu: vec![100_000, 23_456] }),
                throttling: Some(v1::Throttle { periods: 10, throttled_periods: 2, throttled_time: 5_000 }),
            }),
            memory: Some(v1::MemoryStat {
                cache: 4096,
                rss: 8192,
                total_cache: 40960,
                total_unevictable: 7,
                hierarchical_memory_limit: 9_223_372_036_854_771_712,
                usage: Some(entry(64 << 20, 1 << 20, 2 << 20, 0)),
                swap: Some(entry(128 << 20, 1 << 20, 3 << 20, 1)),
                kernel: Some(entry(0, 4096, 8192, 0)),
                kernel_tcp: None,
                ..Default::default()
            }),
            blkio: Some(v1::BlkIoStat {
                io_service_bytes_recursive: vec![blk("Read", 4096), blk("Write", 0), blk("Total", 4096)],
                io_serviced_recursive: vec![blk("Read", 1)],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn v1_metrics_become_the_documented_shape() {
        let m = metric(V1_TYPE_URL, sample_v1().encode_to_vec(), 1_795_867_200, 123_000_000);
        let v = stats_json(&m).unwrap();
        assert_eq!(v["read"], "2026-11-28T12:00:00.123Z");
        assert_eq!(v["cgroup"], "v1");
        assert_eq!(v["cpu"]["usage"], json!({"total": 123_456, "kernel": 1_000, "user": 2_000, "per_cpu": [100_000, 23_456]}));
        assert_eq!(v["cpu"]["throttling"], json!({"periods": 10, "throttled_periods": 2, "throttled_time": 5_000}));
        assert_eq!(v["memory"]["usage"], json!({"usage": 1 << 20, "max": 2 << 20, "limit": 64 << 20, "failcnt": 0}));
        assert_eq!(v["memory"]["swap"], json!({"usage": 1 << 20, "max": 3 << 20, "limit": 128 << 20, "failcnt": 1}));
        assert_eq!(v["memory"]["kernel"], json!({"usage": 4096, "max": 8192, "limit": 0, "failcnt": 0}));
        assert_eq!(v["memory"]["kernel_tcp"], json!({"usage": 0, "max": 0, "limit": 0, "failcnt": 0}));
        assert_eq!(v["memory"]["cache"], 4096);
        assert_eq!(v["memory"]["rss"], 8192);
        assert_eq!(v["memory"]["total_cache"], 40960);
        assert_eq!(v["memory"]["total_unevictable"], 7);
        assert_eq!(v["memory"]["hierarchical_memory_limit"], 9_223_372_036_854_771_712u64);
        assert_eq!(v["memory"]["pg_fault"], 0);
        assert_eq!(v["memory"].as_object().unwrap().len(), 4 + 32);
        assert_eq!(v["pids"], json!({"current": 3, "limit": 100}));
        assert_eq!(
            v["blkio"]["io_service_bytes_recursive"],
            json!([
                {"op": "Read", "device": "", "major": 8, "minor": 0, "value": 4096},
                {"op": "Write", "device": "", "major": 8, "minor": 0, "value": 0},
                {"op": "Total", "device": "", "major": 8, "minor": 0, "value": 4096},
            ])
        );
        assert_eq!(v["blkio"]["io_serviced_recursive"][0]["value"], 1);
        assert_eq!(v["blkio"]["sectors_recursive"], json!([]));
        assert_eq!(v["blkio"].as_object().unwrap().len(), 8);
        assert_eq!(v["hugetlb"], json!([{"pagesize": "2MB", "usage": 0, "max": 0, "failcnt": 0}]));
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        let mut want = ["read", "cgroup", "cpu", "memory", "pids", "blkio", "hugetlb"];
        want.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(keys, want);
    }

    /// The wire bytes, hand-encoded from the field numbers of the real proto, so that a
    /// wrong tag in the declarations above cannot go unnoticed.
    #[test]
    fn v1_field_numbers_match_the_proto() {
        fn varint(mut v: u64, out: &mut Vec<u8>) {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    return;
                }
                out.push(b | 0x80);
            }
        }
        fn field_u64(tag: u32, v: u64, out: &mut Vec<u8>) {
            varint(u64::from(tag) << 3, out);
            varint(v, out);
        }
        fn field_msg(tag: u32, body: &[u8], out: &mut Vec<u8>) {
            varint(u64::from(tag) << 3 | 2, out);
            varint(body.len() as u64, out);
            out.extend_from_slice(body);
        }
        // MemoryEntry{limit=1, usage=2, max=3, failcnt=4}
        let mut usage = Vec::new();
        field_u64(1, 1000, &mut usage);
        field_u64(2, 200, &mut usage);
        field_u64(3, 300, &mut usage);
        field_u64(4, 4, &mut usage);
        // MemoryStat{cache=1, rss=2, total_cache=18, usage=33, swap=34, kernel=35, kernel_tcp=36}
        let mut mem = Vec::new();
        field_u64(1, 11, &mut mem);
        field_u64(2, 22, &mut mem);
        field_u64(18, 1818, &mut mem);
        field_msg(33, &usage, &mut mem);
        let mut swap = Vec::new();
        field_u64(2, 34, &mut swap);
        field_msg(34, &swap, &mut mem);
        let mut kern = Vec::new();
        field_u64(2, 35, &mut kern);
        field_msg(35, &kern, &mut mem);
        let mut tcp = Vec::new();
        field_u64(2, 36, &mut tcp);
        field_msg(36, &tcp, &mut mem);
        // CPUUsage{total=1, kernel=2, user=3, per_cpu=4 (packed)}
        let mut cu = Vec::new();
        field_u64(1, 77, &mut cu);
        field_u64(2, 7, &mut cu);
        field_u64(3, 70, &mut cu);
        field_msg(4, &[5, 6], &mut cu);
        let mut cpu = Vec::new();
        field_msg(1, &cu, &mut cpu);
        let mut thr = Vec::new();
        field_u64(3, 999, &mut thr);
        field_msg(2, &thr, &mut cpu);
        // PidsStat{current=1, limit=2}
        let mut pids = Vec::new();
        field_u64(1, 2, &mut pids);
        field_u64(2, 50, &mut pids);
        // BlkIOEntry{op=1, device=2, major=3, minor=4, value=5} in sectors_recursive=8
        let mut be = Vec::new();
        field_msg(1, b"Read", &mut be);
        field_msg(2, b"sda", &mut be);
        field_u64(3, 8, &mut be);
        field_u64(4, 1, &mut be);
        field_u64(5, 512, &mut be);
        let mut blk = Vec::new();
        field_msg(8, &be, &mut blk);
        // Metrics{pids=2, cpu=3, memory=4, blkio=5}, plus rdma=6 and
        // memory_oom_control=9 that are not declared and must be skipped.
        let mut m = Vec::new();
        field_msg(2, &pids, &mut m);
        field_msg(3, &cpu, &mut m);
        field_msg(4, &mem, &mut m);
        field_msg(5, &blk, &mut m);
        field_msg(6, &[], &mut m);
        let mut oom = Vec::new();
        field_u64(3, 1, &mut oom);
        field_msg(9, &oom, &mut m);

        let v = stats_json(&metric(V1_TYPE_URL, m, 0, 0)).unwrap();
        assert_eq!(v["cpu"]["usage"], json!({"total": 77, "kernel": 7, "user": 70, "per_cpu": [5, 6]}));
        assert_eq!(v["cpu"]["throttling"]["throttled_time"], 999);
        assert_eq!(v["memory"]["usage"], json!({"usage": 200, "max": 300, "limit": 1000, "failcnt": 4}));
        assert_eq!(v["memory"]["swap"]["usage"], 34);
        assert_eq!(v["memory"]["kernel"]["usage"], 35);
        assert_eq!(v["memory"]["kernel_tcp"]["usage"], 36);
        assert_eq!((v["memory"]["cache"].clone(), v["memory"]["rss"].clone()), (json!(11), json!(22)));
        assert_eq!(v["memory"]["total_cache"], 1818);
        assert_eq!(v["pids"], json!({"current": 2, "limit": 50}));
        assert_eq!(
            v["blkio"]["sectors_recursive"],
            json!([{"op": "Read", "device": "sda", "major": 8, "minor": 1, "value": 512}])
        );
    }

    #[test]
    fn v2_metrics_map_onto_the_same_keys() {
        let m = v2::Metrics {
            pids: Some(v2::PidsStat { current: 4, limit: 0 }),
            cpu: Some(v2::CpuStat {
                usage_usec: 1_500,
                user_usec: 1_000,
                system_usec: 500,
                nr_periods: 8,
                nr_throttled: 1,
                throttled_usec: 20,
            }),
            memory: Some(v2::MemoryStat {
                anon: 8192,
                file: 4096,
                usage: 1 << 20,
                usage_limit: 64 << 20,
                swap_usage: 10,
                swap_limit: 20,
                max_usage: 2 << 20,
                ..Default::default()
            }),
            io: Some(v2::IoStat {
                usage: vec![v2::IoEntry { major: 8, minor: 0, rbytes: 100, wbytes: 200, rios: 1, wios: 2 }],
            }),
            hugetlb: vec![v2::HugeTlbStat { current: 0, max: 4096, pagesize: "2MB".into() }],
            memory_events: Some(v2::MemoryEvents { low: 0, high: 0, max: 3, oom: 1, oom_kill: 1 }),
        };
        let any_url = format!("type.googleapis.com/{V2_TYPE_URL}");
        let v = stats_json(&metric(&any_url, m.encode_to_vec(), 1_704_067_200, 5_000_000)).unwrap();
        assert_eq!(v["read"], "2024-01-01T00:00:00.005Z");
        assert_eq!(v["cgroup"], "v2");
        assert_eq!(v["cpu"]["usage"], json!({"total": 1_500_000, "kernel": 500_000, "user": 1_000_000, "per_cpu": []}));
        assert_eq!(v["cpu"]["throttling"], json!({"periods": 8, "throttled_periods": 1, "throttled_time": 20_000}));
        assert_eq!(v["memory"]["usage"], json!({"usage": 1 << 20, "max": 2 << 20, "limit": 64 << 20, "failcnt": 3}));
        assert_eq!(v["memory"]["swap"], json!({"usage": 10, "max": 0, "limit": 20, "failcnt": 0}));
        assert_eq!(v["memory"]["cache"], 4096);
        assert_eq!(v["memory"]["rss"], 8192);
        assert_eq!(v["memory"]["events"]["oom_kill"], 1);
        assert_eq!(v["pids"], json!({"current": 4, "limit": 0}));
        assert_eq!(
            v["blkio"]["io_service_bytes_recursive"],
            json!([
                {"op": "Read", "device": "", "major": 8, "minor": 0, "value": 100},
                {"op": "Write", "device": "", "major": 8, "minor": 0, "value": 200},
            ])
        );
        assert_eq!(v["blkio"]["io_serviced_recursive"][1]["value"], 2);
        assert_eq!(v["blkio"]["io_queued_recursive"], json!([]));
        assert_eq!(v["hugetlb"][0]["limit"], 4096);
    }

    #[test]
    fn empty_payloads_still_have_every_key() {
        for url in [V1_TYPE_URL, V2_TYPE_URL] {
            let v = stats_json(&metric(url, Vec::new(), 0, 0)).unwrap();
            assert_eq!(v["cpu"]["usage"]["total"], 0, "{url}");
            assert_eq!(v["memory"]["usage"]["limit"], 0, "{url}");
            assert_eq!(v["pids"]["current"], 0, "{url}");
            assert_eq!(v["blkio"]["io_service_bytes_recursive"], json!([]), "{url}");
        }
    }

    #[test]
    fn missing_timestamp_uses_now() {
        let mut m = metric(V1_TYPE_URL, Vec::new(), 0, 0);
        m.timestamp = None;
        let v = stats_json(&m).unwrap();
        let read = v["read"].as_str().unwrap();
        assert_eq!(read.len(), "2026-11-28T12:00:00.123Z".len());
        assert!(read.ends_with('Z') && read.as_bytes()[10] == b'T' && read > "2020");
    }

    #[test]
    fn unknown_types_and_bad_payloads_are_errors() {
        let e = stats_json(&metric("io.containerd.cgroups.v3.Metrics", Vec::new(), 0, 0)).unwrap_err();
        assert_eq!(e.code(), Code::Unsupported);
        assert!(e.message().contains("io.containerd.cgroups.v3.Metrics"), "{e}");
        assert!(e.message().contains("\"web\""), "{e}");

        let e = stats_json(&metric(V1_TYPE_URL, vec![0x1a, 0x05, 0x01], 0, 0)).unwrap_err();
        assert_eq!(e.code(), Code::Internal);
        assert!(e.message().contains(V1_TYPE_URL), "{e}");
        let e = stats_json(&metric(V2_TYPE_URL, vec![0xff], 0, 0)).unwrap_err();
        assert_eq!(e.code(), Code::Internal);

        let mut m = metric(V1_TYPE_URL, Vec::new(), 0, 0);
        m.data = None;
        assert_eq!(stats_json(&m).unwrap_err().code(), Code::Internal);
    }
}
