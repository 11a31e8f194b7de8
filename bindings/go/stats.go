package libcontainerd

import (
	"encoding/json"
	"time"
)

// Stats are a container's cgroup figures, as Client.Stats returns them. Under cgroups
// v2 the figures are mapped onto the same shape (nanoseconds, bytes); those v2 lacks
// are zero or empty.
type Stats struct {
	// Read is when the figures were read.
	Read time.Time `json:"read"`
	// Cgroup is the cgroup version the figures come from: "v1" or "v2".
	Cgroup string `json:"cgroup"`
	// CPU is the CPU usage.
	CPU CPUStats `json:"cpu"`
	// Memory is the memory usage.
	Memory MemoryStats `json:"memory"`
	// Pids counts the container's processes.
	Pids PidsStats `json:"pids"`
	// Blkio is the block I/O.
	Blkio BlkioStats `json:"blkio"`
	// Hugetlb is the huge page usage, per page size.
	Hugetlb []HugetlbStats `json:"hugetlb"`
}

// CPUStats is the CPU part of Stats.
type CPUStats struct {
	// Usage is the CPU time used.
	Usage CPUUsage `json:"usage"`
	// Throttling counts the CFS throttling.
	Throttling ThrottlingStats `json:"throttling"`
}

// CPUUsage is CPU time in nanoseconds.
type CPUUsage struct {
	// Total is the whole CPU time.
	Total uint64 `json:"total"`
	// Kernel is the time spent in the kernel.
	Kernel uint64 `json:"kernel"`
	// User is the time spent in user space.
	User uint64 `json:"user"`
	// PerCPU is the time per CPU (empty under cgroups v2).
	PerCPU []uint64 `json:"per_cpu"`
}

// ThrottlingStats counts CFS periods and throttling.
type ThrottlingStats struct {
	// Periods is the number of enforcement periods.
	Periods uint64 `json:"periods"`
	// ThrottledPeriods is the number of periods in which the container was throttled.
	ThrottledPeriods uint64 `json:"throttled_periods"`
	// ThrottledTime is the time throttled, in nanoseconds.
	ThrottledTime uint64 `json:"throttled_time"`
}

// MemoryEntry is one memory figure with its peak, limit and failure count, in bytes.
type MemoryEntry struct {
	// Usage is the current usage.
	Usage uint64 `json:"usage"`
	// Max is the peak usage.
	Max uint64 `json:"max"`
	// Limit is the limit.
	Limit uint64 `json:"limit"`
	// Failcnt counts the times the limit was hit.
	Failcnt uint64 `json:"failcnt"`
}

// MemoryEvents are the cgroups v2 memory.events counters.
type MemoryEvents struct {
	// Low counts reclaims below the low boundary.
	Low uint64 `json:"low"`
	// High counts throttlings above the high boundary.
	High uint64 `json:"high"`
	// Max counts the times the limit was about to be exceeded.
	Max uint64 `json:"max"`
	// OOM counts OOM situations.
	OOM uint64 `json:"oom"`
	// OOMKill counts processes killed by the OOM killer.
	OOMKill uint64 `json:"oom_kill"`
}

// MemoryStats is the memory part of Stats.
type MemoryStats struct {
	// Usage is the memory usage and limit.
	Usage MemoryEntry
	// Swap is the memory+swap (v1) or swap (v2) usage and limit.
	Swap MemoryEntry
	// Kernel is the kernel memory (v1 only).
	Kernel MemoryEntry
	// KernelTCP is the kernel TCP buffer memory (v1 only).
	KernelTCP MemoryEntry
	// Cache is the page cache, in bytes.
	Cache uint64
	// RSS is the anonymous memory, in bytes.
	RSS uint64
	// Events are the v2 memory events; nil under cgroups v1.
	Events *MemoryEvents
	// Counters holds every plain counter of the cgroup's memory statistics by its
	// name (for example "total_rss", "pgfault"), Cache and RSS included.
	Counters map[string]uint64
}

// UnmarshalJSON decodes the memory object of the stats JSON, whose counters sit next
// to the usage entries.
func (m *MemoryStats) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	entries := map[string]*MemoryEntry{"usage": &m.Usage, "swap": &m.Swap, "kernel": &m.Kernel, "kernel_tcp": &m.KernelTCP}
	m.Counters = make(map[string]uint64, len(raw))
	for k, v := range raw {
		if e, ok := entries[k]; ok {
			if err := json.Unmarshal(v, e); err != nil {
				return err
			}
			continue
		}
		if k == "events" {
			m.Events = new(MemoryEvents)
			if err := json.Unmarshal(v, m.Events); err != nil {
				return err
			}
			continue
		}
		var n uint64
		if err := json.Unmarshal(v, &n); err != nil {
			continue // not a counter: a field a later library version added
		}
		m.Counters[k] = n
	}
	m.Cache = m.Counters["cache"]
	m.RSS = m.Counters["rss"]
	return nil
}

// PidsStats counts a container's processes.
type PidsStats struct {
	// Current is the number of processes.
	Current uint64 `json:"current"`
	// Limit is the maximum (0: none).
	Limit uint64 `json:"limit"`
}

// BlkioEntry is one block I/O figure of one device.
type BlkioEntry struct {
	// Op is the operation: "Read", "Write", "Sync", "Async", "Total", …
	Op string `json:"op"`
	// Device is the device name, when known.
	Device string `json:"device"`
	// Major is the device's major number.
	Major uint64 `json:"major"`
	// Minor is the device's minor number.
	Minor uint64 `json:"minor"`
	// Value is the figure.
	Value uint64 `json:"value"`
}

// BlkioStats is the block I/O part of Stats (the cgroups v1 blkio files).
type BlkioStats struct {
	// IoServiceBytesRecursive: bytes transferred.
	IoServiceBytesRecursive []BlkioEntry `json:"io_service_bytes_recursive"`
	// IoServicedRecursive: I/O operations.
	IoServicedRecursive []BlkioEntry `json:"io_serviced_recursive"`
	// IoQueuedRecursive: operations queued.
	IoQueuedRecursive []BlkioEntry `json:"io_queued_recursive"`
	// IoServiceTimeRecursive: time spent servicing.
	IoServiceTimeRecursive []BlkioEntry `json:"io_service_time_recursive"`
	// IoWaitTimeRecursive: time spent waiting.
	IoWaitTimeRecursive []BlkioEntry `json:"io_wait_time_recursive"`
	// IoMergedRecursive: operations merged.
	IoMergedRecursive []BlkioEntry `json:"io_merged_recursive"`
	// IoTimeRecursive: device time.
	IoTimeRecursive []BlkioEntry `json:"io_time_recursive"`
	// SectorsRecursive: sectors transferred.
	SectorsRecursive []BlkioEntry `json:"sectors_recursive"`
}

// HugetlbStats is the huge page usage of one page size, in bytes.
type HugetlbStats struct {
	// Pagesize is the page size, for example "2MB".
	Pagesize string `json:"pagesize"`
	// Usage is the current usage.
	Usage uint64 `json:"usage"`
	// Max is the peak usage.
	Max uint64 `json:"max"`
	// Limit is the limit (v2 only).
	Limit uint64 `json:"limit"`
	// Failcnt counts the times the limit was hit.
	Failcnt uint64 `json:"failcnt"`
}
