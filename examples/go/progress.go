// Live pull progress for the demo: what the library reports of each blob, shown as
// one updating line on a terminal and as a line per report otherwise.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
)

// progress renders a pull's reports; its method runs on the library's progress
// thread, one report at a time, in order.
type progress struct {
	tty   bool
	order []string                              // digests, in the order first seen
	blobs map[string]libcontainerd.PullProgress // the last report of each
	open  bool                                  // a line without its newline is on the terminal
}

func newProgress() *progress {
	st, err := os.Stdout.Stat()
	return &progress{tty: err == nil && st.Mode()&os.ModeCharDevice != 0, blobs: map[string]libcontainerd.PullProgress{}}
}

func human(b uint64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// finished: downloaded (or already there) and, for a layer, unpacked.
func finished(p libcontainerd.PullProgress) bool {
	return p.Status == "done" || p.Status == "exists" || (p.Status == "extracting" && p.Total > 0 && p.Current == p.Total)
}

func terminalWidth() int {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, os.Stdout.Fd(), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 || ws.Col < 10 {
		return 80
	}
	return int(ws.Col)
}

// report shows one progress report.
func (p *progress) report(r libcontainerd.PullProgress) {
	if !p.tty {
		d := short(r.Digest)
		if d == "" {
			d = "-"
		}
		say("pull: %s %s %s / %s", d, r.Status, human(r.Current), human(r.Total))
		return
	}
	line := "pull: " + r.Status // resolving the reference: no blob yet
	if r.Digest != "" {
		if _, ok := p.blobs[r.Digest]; !ok {
			p.order = append(p.order, r.Digest)
		}
		p.blobs[r.Digest] = r
		done, parts := 0, []string{}
		for _, d := range p.order {
			b := p.blobs[d]
			if finished(b) {
				done++
				continue
			}
			parts = append(parts, fmt.Sprintf("%.8s %s %s/%s", short(d), b.Status, human(b.Current), human(b.Total)))
		}
		line = strings.Join(append([]string{fmt.Sprintf("pull: %d/%d done", done, len(p.order))}, parts...), " | ")
	}
	if w := terminalWidth() - 1; len(line) > w {
		line = line[:w]
	}
	outMu.Lock()
	fmt.Printf("\r\033[K%s", line)
	outMu.Unlock()
	p.open = true
}

// end closes the updating line (after the pull returned: no report comes later).
func (p *progress) end() {
	if p.open {
		say("")
	}
}
