//! `io.containerd.cgroups.v1` messages (cgroups `stats/v1/metrics.proto`).

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
