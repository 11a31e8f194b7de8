"""Unit tests of the benchmark report (bench/report.py, bench/targets.py): verdicts and the
generated analysis follow the run's figures, and the fixed notes may not quote any.
Run: python3 -m unittest discover -s bench -p 'test_*.py'"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import targets  # noqa: E402
from run import FULL  # noqa: E402

NOTES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")


def lifecycle_batch(lat, exit_=None, event=1.0, reaped=20.0, go=False):
    b = {"lat_ms": list(lat), "n": len(lat), "elapsed_s": sum(lat) / 1e3, "cpu_ms": 4.0 * len(lat),
         "containerd_cpu_ms": 10.0 * len(lat), "reaped_ms": [reaped] * len(lat)}
    if go:
        b["exit_seen_ms"] = [event] * len(lat)
    else:
        b["exit_ms"] = list(exit_ or [x / 2 for x in lat])
        b["event_ms"] = [event] * len(lat)
    return b


def run(rust_p50=70.0, go_p50=100.0, rust_event=1.0, go_event=1.0, curve=None, pool=None, workers=(1, 8)):
    """A results file as bench/run.py writes it, with the figures given."""
    seq = {"rust": [lifecycle_batch([rust_p50] * 5, event=rust_event)],
           "c": [lifecycle_batch([rust_p50] * 5, event=rust_event)],
           "go": [lifecycle_batch([go_p50] * 5, event=go_event, go=True)]}
    if pool:
        seq["rust-pool"] = [lifecycle_batch([pool] * 5)]
    tput = {str(w): {p: [dict(b[0], elapsed_s=b[0]["elapsed_s"] / w)] for p, b in seq.items()} for w in workers}
    curve = curve or [[i * 25, 7000 + i * 25 * 20] for i in range(9)]
    density = {"count": curve[-1][0], "rss_start_kib": 3000, "rss_client_kib": curve[0][1],
               "rss_full_kib": curve[-1][1], "rss_after_kib": curve[-1][1], "rss_full2_kib": curve[-1][1] + 100,
               "rss_after2_kib": curve[-1][1], "curve": curve, "create_s": 1.0, "list_ms": 1.0,
               "stats_all_ms": 1.0, "teardown_s": 1.0}
    machine = {k: "?" for k in ("cpu", "memory", "kernel", "os", "cgroups", "runc", "ctr", "go", "rustc", "python",
                                "go_client", "containerd")}
    machine.update(cpus=2, loadavg_before=["1.0", "1.0", "1.0"], loadavg_after=["1.0", "1.0", "1.0"])
    return {"smoke": False, "config": FULL, "started": "now", "duration_s": 60, "machine": machine,
            "results": {"lifecycle": {"sequential": seq, "throughput": tput},
                        "exec": {"rust": [{"lat_ms": [45.0] * 5, "event_ms": [1.0] * 5}],
                                 "go": [{"lat_ms": [50.0] * 5}]},
                        "density": density}}


def verdicts(data):
    return {t["target"]: t["met"] for t in report.summarize(data)["targets"]}


def find(v, prefix):
    hits = [met for name, met in v.items() if name.startswith(prefix)]
    assert len(hits) == 1, (prefix, list(v))
    return hits[0]


class Verdicts(unittest.TestCase):
    def test_lifecycle_ratio_follows_the_run(self):
        self.assertTrue(find(verdicts(run(rust_p50=70.0)), "lifecycle p50, Rust API / Go client"))
        self.assertFalse(find(verdicts(run(rust_p50=90.0)), "lifecycle p50, Rust API / Go client"))

    def test_pool_targets_not_measured_without_a_pool_peer(self):
        v = verdicts(run())
        self.assertIsNone(find(v, "lifecycle p50, Rust API with the shim pool"))
        self.assertIsNone(find(v, "throughput at 8 workers, Rust API with the shim pool"))
        v = verdicts(run(pool=50.0))
        self.assertTrue(find(v, "lifecycle p50, Rust API with the shim pool"))
        self.assertTrue(find(v, "throughput at 8 workers, Rust API with the shim pool"))

    def test_throughput_needs_an_eight_worker_batch(self):
        self.assertIsNone(find(verdicts(run(workers=(1, 4))), "throughput at 8 workers, Rust API / Go"))
        self.assertTrue(find(verdicts(run(workers=(1, 8))), "throughput at 8 workers, Rust API / Go"))

    def test_exit_event_is_compared_with_the_go_client(self):
        v = verdicts(run(rust_event=4.0, go_event=1.0))
        self.assertTrue(find(v, "exit event p99, Rust API (exited_at"))  # under the absolute bound
        self.assertFalse(find(v, "exit event p99, Rust API over the Go client"))  # but 3 ms behind Wait
        self.assertTrue(find(verdicts(run(rust_event=1.5, go_event=1.0)), "exit event p50, Rust API over"))

    def test_rss_curve_must_be_a_line(self):
        # A small slope no longer passes whatever the fit: a step is not linear growth.
        step = [[i * 25, 7000 if i < 8 else 9000] for i in range(9)]
        v = verdicts(run(curve=step))
        self.assertFalse(find(v, "RSS curve is a line"))
        self.assertTrue(find(verdicts(run()), "RSS curve is a line"))

    def test_rss_slope_and_second_cycle(self):
        steep = [[i * 25, 7000 + i * 25 * 100] for i in range(9)]
        self.assertFalse(find(verdicts(run(curve=steep)), "RSS per container"))
        data = run()
        d = data["results"]["density"]
        d["rss_full2_kib"] = d["rss_full_kib"] + (d["rss_full_kib"] - d["rss_client_kib"])  # grew again: a leak
        self.assertFalse(find(verdicts(data), "second cycle"))
        self.assertTrue(find(verdicts(run()), "second cycle"))


class Analysis(unittest.TestCase):
    def render(self, data):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "B.md")
            report.write_markdown(data, report.summarize(data), path, "chart.png")
            with open(path) as f:
                return f.read()

    def test_analysis_names_missed_targets_with_the_runs_figures(self):
        text = self.render(run(rust_p50=90.0))
        self.assertIn("- Missed: lifecycle p50, Rust API / Go client (pool off): 0.90x against ≤ 0.80x, by 0.10x", text)
        self.assertIn("90.0 ms against 100.0 ms", text)
        text = self.render(run(rust_p50=70.0))
        self.assertIn("- Met: lifecycle p50, Rust API / Go client (pool off): 0.70x", text)
        self.assertNotIn("Missed: lifecycle p50, Rust API", text)

    def test_results_of_drivers_timed_to_exit_are_labelled_so(self):
        data = run()
        for b in data["results"]["lifecycle"]["sequential"]["rust"]:
            del b["reaped_ms"]
        text = self.render(data)
        self.assertIn("| library, Rust API | `exit` delivered (an older driver: not timed to the deletion) |", text)
        self.assertIn("| library, Rust API | containerd's delete events", self.render(run()))

    def test_fixed_notes_hold_no_figures_or_verdicts(self):
        with open(NOTES) as f:
            self.assertEqual(targets.check_fixed_prose(f.read()), [])
        self.assertTrue(targets.check_fixed_prose("The committed run met every target."))
        self.assertTrue(targets.check_fixed_prose("p50 of 81.6 against 91.4 ms"))
        self.assertTrue(targets.check_fixed_prose("lifecycle at 0.82x the Go client"))
        self.assertEqual(targets.check_fixed_prose("```\nvalgrind --iters 30 -> 12 ms\n```"), [])

    def test_notes_with_a_figure_are_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".md") as f:
            f.write("## Notes\n\nThe library took 25.4 ms.\n")
            f.flush()
            with self.assertRaises(SystemExit):
                report.fixed_notes(f.name)


if __name__ == "__main__":
    unittest.main()
