//! Tests of the stats JSON built from cgroups v1 and v2 metrics.

use super::*;
use containerd_client::types::Metric;
use prost::Message;

fn metric(type_url: &str, value: Vec<u8>, secs: i64, nanos: i32) -> Metric {
    Metric {
        timestamp: Some(prost_types::Timestamp { seconds: secs, nanos }),
        id: "web".into(),
        data: Some(prost_types::Any { type_url: type_url.into(), value }),
    }
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
