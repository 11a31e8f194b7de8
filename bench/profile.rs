//! `lcd_bench profile`: reads the library's `LCD_TRACE_RPC` trace of sequential
//! lifecycles back into one table of steps (µs since `create` was called, median over
//! the iterations after the first), with who waits on whom at each step.

use std::collections::HashMap;

use serde_json::{json, Value};

/// One traced step of one iteration: label, start and end in µs since its `create`,
/// and containerd's own timestamp of an event (µs since the same `create`).
struct Step {
    label: String,
    start: i64,
    end: i64,
    containerd: Option<i64>,
}

/// What a step waits on, by the kind of line and its name.
fn waits_on(label: &str) -> &'static str {
    let base = label.split('#').next().unwrap_or(label);
    match base {
        "create" => "the caller calls create",
        "GetContainerRequest" => "containerd: metadata read (bolt)",
        "CreateContainerRequest" => "containerd: metadata write (bolt)",
        "CreateTaskRequest" => "containerd: shim started or reused, bundle written, runc create",
        "StartRequest" => "containerd → shim → runc start",
        "created" => "library: create returns to the caller",
        "event /tasks/create" | "event /tasks/start" => "containerd publishes; library's event stream",
        "event /tasks/exit" => "shim reaps init → containerd publishes → library's event stream",
        "exit-taken" => "library: the container's event loop takes the exit",
        "drained" => "library: the shim closes the output fifos (output handed over)",
        "exit-reported" => "library: `exit` queued for the backend",
        "DeleteTaskRequest" => "containerd → shim: runc delete, the shim exits when it serves no task",
        "event /tasks/delete" => "containerd publishes the task's deletion",
        "DeleteContainerRequest" => "containerd: metadata delete (bolt)",
        "reaped" => "library: the id is free again",
        _ => "",
    }
}

/// Parses trace lines into iterations (each starting at a `mark ... create`).
fn iterations(text: &str) -> Vec<Vec<Step>> {
    let mut lines: Vec<(i64, Vec<&str>)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = f.get(1)?.parse::<i64>().ok()?;
            Some((at, f))
        })
        .collect();
    lines.sort_by_key(|(at, _)| *at);
    let mut out: Vec<Vec<Step>> = Vec::new();
    let mut t0 = 0;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut t0s: HashMap<String, (usize, i64)> = HashMap::new();
    for (at, f) in lines {
        let (label, end, containerd) = match (f[0], f.len()) {
            ("mark", 4) => (f[2].to_string(), at, None),
            ("rpc", 5) => (f[3].to_string(), f[2].parse().unwrap_or(at), None),
            ("event", 5) => (format!("event {}", f[3]), at, f[2].parse::<i64>().ok()),
            _ => continue,
        };
        if label == "create" {
            out.push(Vec::new());
            t0s.insert(f[3].to_string(), (out.len() - 1, at));
            t0 = at;
            seen.clear();
        }
        // A milestone belongs to its container's iteration (the removal of one can end
        // after the next create); anything else to the iteration under way.
        let (index, t0) = match (f[0], f.last().and_then(|id| t0s.get(*id))) {
            ("mark", Some(&(i, t))) => (i, t),
            _ if !out.is_empty() => (out.len() - 1, t0),
            _ => continue,
        };
        let it = &mut out[index];
        let n = seen.entry(format!("{index} {label}")).or_default();
        *n += 1;
        let label = if *n > 1 { format!("{label}#{n}") } else { label };
        it.push(Step { label, start: at - t0, end: end - t0, containerd: containerd.map(|c| c - t0) });
    }
    out
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// The table of the trace at `path`: one row per step, in the order of the median start.
pub fn table(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let its = iterations(&text);
    // The first iteration pays for connections (and the pool's keepers): left out.
    let measured: Vec<&Vec<Step>> = its.iter().skip(if its.len() > 1 { 1 } else { 0 }).collect();
    let mut by_label: HashMap<&str, (Vec<i64>, Vec<i64>, Vec<i64>)> = HashMap::new();
    for it in &measured {
        for s in it.iter() {
            let e = by_label.entry(s.label.as_str()).or_default();
            e.0.push(s.start);
            e.1.push(s.end - s.start);
            if let Some(c) = s.containerd {
                e.2.push(c);
            }
        }
    }
    // Steps that most iterations have (not a one-off such as a keeper's creation).
    let common = measured.len().div_ceil(2);
    let mut rows: Vec<Value> = by_label
        .into_iter()
        .filter(|(_, (starts, ..))| starts.len() >= common)
        .map(|(label, (starts, durs, cts))| {
            let n = starts.len();
            json!({"step": label, "n": n, "start_us": median(starts), "dur_us": median(durs),
                   "containerd_ts_us": (!cts.is_empty()).then(|| median(cts)), "waits_on": waits_on(label)})
        })
        .collect();
    rows.sort_by_key(|r| r["start_us"].as_i64().unwrap_or(0));
    json!({"iterations": measured.len(), "steps": rows})
}

/// The table as Markdown.
pub fn markdown(t: &Value) -> String {
    let mut s = format!("median over {} iterations, µs since `create` was called\n\n", t["iterations"]);
    s += "| step | start | duration | containerd's timestamp | waits on |\n|---|---:|---:|---:|---|\n";
    for r in t["steps"].as_array().into_iter().flatten() {
        let ct = r["containerd_ts_us"].as_i64().map(|v| v.to_string()).unwrap_or_default();
        s += &format!("| {} | {} | {} | {} | {} |\n", r["step"].as_str().unwrap_or(""), r["start_us"], r["dur_us"], ct, r["waits_on"].as_str().unwrap_or(""));
    }
    s
}
