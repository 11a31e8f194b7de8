//! `io.containerd.cgroups.v2` messages (cgroups `v2/stats/metrics.proto`).

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
