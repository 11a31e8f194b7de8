// Command images is the containerd Go client's side of the image benchmarks: a pull
// with unpack (Client.Pull with WithPullUnpack) and the lifecycle of a container
// created from an image (NewContainer with WithImage, WithNewSnapshot and
// WithNewSpec(oci.WithImageConfig)), against the daemon bench/images.py starts. It
// prints one JSON object with its measurements on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

const runtimeName = "io.containerd.runc.v2"

var (
	mode      = flag.String("mode", "pull", "pull | lifecycle")
	socket    = flag.String("socket", "", "containerd socket")
	ns        = flag.String("namespace", "lcdbench-img", "containerd namespace")
	ref       = flag.String("ref", "", "image reference")
	plainHTTP = flag.Bool("plain-http", false, "reach the registry over plain HTTP")
	downloads = flag.Int("downloads", 0, "pull: blobs downloaded at once (0: the client's default)")
	stateDir  = flag.String("state-dir", "", "lifecycle: directory for fifos and runc state")
	prefix    = flag.String("prefix", "gi", "lifecycle: container id prefix")
	iters     = flag.Int("iters", 10, "lifecycle: iterations")
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// pull is one Client.Pull with unpack into the default snapshotter, timed around the call.
func pull(ctx context.Context, client *containerd.Client) map[string]any {
	opts := []containerd.RemoteOpt{containerd.WithPullUnpack}
	if *plainHTTP {
		hosts := docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchAllHosts))
		opts = append(opts, containerd.WithResolver(docker.NewResolver(docker.ResolverOptions{Hosts: hosts})))
	}
	if *downloads > 0 {
		opts = append(opts, containerd.WithMaxConcurrentDownloads(*downloads))
	}
	t0 := time.Now()
	img, err := client.Pull(ctx, *ref, opts...)
	must(err, "pull")
	d := time.Since(t0)
	return map[string]any{"pull_ms": ms(d), "digest": img.Target().Digest.String()}
}

// one is create from the image → start → exit → task deleted → container and its
// snapshot deleted (WithSnapshotCleanup), timed to the return of Container.Delete.
func one(ctx context.Context, client *containerd.Client, img containerd.Image, id, runcRoot, fifoDir string) (total, exit time.Duration, err error) {
	t0 := time.Now()
	c, err := client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfig(img)),
		containerd.WithRuntime(runtimeName, &options.Options{Root: runcRoot}))
	if err != nil {
		return
	}
	var task containerd.Task
	defer func() {
		if err == nil {
			return
		}
		if task != nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = c.Delete(ctx, containerd.WithSnapshotCleanup)
	}()
	task, err = c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard), cio.WithFIFODir(fifoDir)))
	if err != nil {
		return
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return
	}
	if err = task.Start(ctx); err != nil {
		return
	}
	<-ch
	exit = time.Since(t0)
	if _, err = task.Delete(ctx); err != nil {
		return
	}
	if err = c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		return
	}
	total = time.Since(t0)
	return
}

func lifecycle(ctx context.Context, client *containerd.Client) map[string]any {
	img, err := client.GetImage(ctx, *ref)
	must(err, "get image")
	runcRoot, fifoDir := filepath.Join(*stateDir, "runc"), filepath.Join(*stateDir, "fifo")
	must(os.MkdirAll(fifoDir, 0o700), "fifo dir")
	lat, exits := []float64{}, []float64{}
	failures := 0
	start := time.Now()
	for i := 0; i < *iters; i++ {
		total, exit, err := one(ctx, client, img, fmt.Sprintf("%s-%d", *prefix, i), runcRoot, fifoDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "iteration %d: %v\n", i, err)
			failures++
			continue
		}
		lat = append(lat, ms(total))
		exits = append(exits, ms(exit))
	}
	return map[string]any{"lat_ms": lat, "exit_ms": exits, "n": len(lat), "failures": failures,
		"elapsed_s": time.Since(start).Seconds()}
}

func main() {
	flag.Parse()
	if *ref == "" {
		must(fmt.Errorf("-ref is required"), "usage")
	}
	t0 := time.Now()
	client, err := containerd.New(*socket)
	must(err, "connect")
	connectMs := ms(time.Since(t0))
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), *ns)
	var out map[string]any
	switch *mode {
	case "pull":
		out = pull(ctx, client)
		out["connect_ms"] = connectMs
	case "lifecycle":
		out = lifecycle(ctx, client)
	default:
		must(fmt.Errorf("unknown mode %q", *mode), "usage")
	}
	must(json.NewEncoder(os.Stdout).Encode(out), "write")
}
