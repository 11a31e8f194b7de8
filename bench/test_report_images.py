"""Unit tests of the image part of the benchmark report (bench/report_images.py): issue
13's verdicts follow the run's figures, a too small image judges no pull target, and the
tables and the analysis carry the run's numbers.
Run: python3 -m unittest discover -s bench -p 'test_*.py'"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import report_images  # noqa: E402
from test_report import run  # noqa: E402

BIG = {"ref": "127.0.0.1:5000/bench/debian:latest", "layers": 5, "compressed_bytes": 50_000_000,
       "uncompressed_bytes": 150_000_000, "downloads": 3}


def images(rust_pull=1000.0, go_pull=1100.0, ctr_pull=1300.0, rust_lc=150.0, go_lc=160.0, image=None):
    """An `images` result as bench/images.py writes it, with the figures given (p50s)."""
    pull = lambda call, cmd: [{"pull_ms": [call] * 4, "cmd_ms": [cmd] * 4, "connect_ms": [3.0] * 4}]  # noqa: E731
    return {"image": dict(image or BIG),
            "pull": {"rust": pull(rust_pull, rust_pull + 50), "go": pull(go_pull, go_pull + 30),
                     "ctr": [{"pull_ms": [], "cmd_ms": [ctr_pull] * 4}]},
            "lifecycle": {"rust": [{"lat_ms": [rust_lc] * 5, "exit_ms": [rust_lc / 2] * 5, "n": 5}],
                          "go": [{"lat_ms": [go_lc] * 5, "exit_ms": [go_lc / 2] * 5, "n": 5}]}}


def data(**kw):
    d = run()
    d["results"]["images"] = images(**kw)
    return d


def verdicts(d):
    return {t["target"]: t["met"] for t in report.summarize(d)["image_targets"]}


def find(v, prefix):
    hits = [met for name, met in v.items() if name.startswith(prefix)]
    assert len(hits) == 1, (prefix, list(v))
    return hits[0]


class Verdicts(unittest.TestCase):
    def test_pull_against_ctr_compares_whole_commands(self):
        # The library's command (1050 ms) against ctr's (1300 ms): met; against 1000 ms: missed.
        self.assertTrue(find(verdicts(data()), "pull + unpack p50, library / `ctr"))
        self.assertFalse(find(verdicts(data(ctr_pull=1000.0)), "pull + unpack p50, library / `ctr"))

    def test_pull_against_the_go_client_compares_the_calls(self):
        self.assertTrue(find(verdicts(data(rust_pull=1000.0, go_pull=1100.0)), "pull + unpack p50, library / Go"))
        self.assertFalse(find(verdicts(data(rust_pull=1200.0, go_pull=1100.0)), "pull + unpack p50, library / Go"))

    def test_lifecycle_from_an_image_follows_the_run(self):
        self.assertTrue(find(verdicts(data(rust_lc=150.0, go_lc=160.0)), "lifecycle from an image"))
        self.assertFalse(find(verdicts(data(rust_lc=170.0, go_lc=160.0)), "lifecycle from an image"))

    def test_a_small_image_judges_no_pull_target(self):
        small = dict(BIG, layers=3, uncompressed_bytes=2_000_000)
        v = verdicts(data(image=small))
        self.assertIsNone(find(v, "pull + unpack p50, library / `ctr"))
        self.assertIsNone(find(v, "pull + unpack p50, library / Go"))
        self.assertIsNotNone(find(v, "lifecycle from an image"))
        one_layer = dict(BIG, layers=1)
        self.assertIsNone(find(verdicts(data(image=one_layer)), "pull + unpack p50, library / Go"))

    def test_failed_batches_are_left_out(self):
        d = data(rust_pull=1000.0)
        d["results"]["images"]["pull"]["rust"].append({"error": "boom"})
        s = report.summarize(d)["images"]
        self.assertEqual(s["pull"]["rust"]["call"]["n"], 4)

    def test_no_image_workload_no_image_targets(self):
        self.assertEqual(report.summarize(run())["image_targets"], [])


class Rendering(unittest.TestCase):
    def render(self, d):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "B.md")
            report.write_markdown(d, report.summarize(d), path, "chart.png")
            with open(path) as f:
                return f.read()

    def test_tables_and_analysis_carry_the_runs_figures(self):
        text = self.render(data(rust_pull=1000.0, go_pull=1100.0, ctr_pull=1300.0))
        self.assertIn("5 layers, 50.0 MB compressed, 150.0 MB unpacked", text)
        self.assertIn("| library, Rust API (`Remote::pull_image`) | 3.0 | 1000 | 1000 | 1050 | 1050 | 4 | 0.81 | 0.91 |", text)
        self.assertIn("- Met: pull + unpack p50, library / Go client (the pull call): 0.91x against ≤ 1.00x "
                      "(1000 ms against 1100 ms).", text)
        text = self.render(data(rust_lc=200.0, go_lc=160.0))
        self.assertIn("- Missed: lifecycle from an image p50, library / Go client: 1.25x against ≤ 1.00x", text)
        self.assertIn("**Issue 13's targets (images):** 3 of 3 measured in this run; 2 met, 1 missed.", text)

    def test_percentiles(self):
        d = report_images.dist([float(i) for i in range(1, 101)])
        self.assertEqual((d["p50"], d["p95"], d["n"]), (50.0, 95.0, 100))
        self.assertIsNone(report_images.dist([]))


if __name__ == "__main__":
    unittest.main()
