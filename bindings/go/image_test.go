package libcontainerd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// startRegistry starts the shared test registry fixture (scripts/test-registry.sh)
// with the seeded test images; it is stopped when the test ends.
func startRegistry(t *testing.T) (addr, dir string) {
	t.Helper()
	dir, err := os.MkdirTemp(testTmp, "go-reg-")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("../../scripts/test-registry.sh")
	cmd := exec.Command(script, "seed", dir)
	cmd.Env = append(os.Environ(), "LCD_TEST_ROOTFS="+testRootfs)
	out, err := cmd.Output()
	t.Cleanup(func() {
		exec.Command(script, "stop", dir).Run()
		os.RemoveAll(dir)
	})
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("test-registry.sh seed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)), dir
}

func TestImagesPullListRemoveImport(t *testing.T) {
	ctx := context.Background()
	addr, dir := startRegistry(t)
	ref := addr + "/test/busybox:latest"
	var mu sync.Mutex
	var seen []PullProgress
	img, err := testRemote.Pull(ctx, ref, WithPlainHTTP(addr), WithUnpack(false), WithProgress(func(p PullProgress) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != ref || img.Platform != "linux/amd64" || img.Config.WorkingDir != "/data" {
		t.Fatalf("pulled %+v", img)
	}
	mu.Lock()
	if len(seen) == 0 || seen[0].Status != "resolving" || seen[len(seen)-1].Status != "done" {
		t.Errorf("progress %+v", seen)
	}
	mu.Unlock()
	has := func(name string) bool {
		imgs, err := testRemote.Images(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range imgs {
			if i.Name == name {
				return true
			}
		}
		return false
	}
	if !has(ref) {
		t.Fatalf("%s not listed", ref)
	}
	if err := testRemote.RemoveImage(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if has(ref) {
		t.Fatalf("%s still listed", ref)
	}
	if err := testRemote.RemoveImage(ctx, ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	// The option reaches the core (an unknown key would be ErrInvalidArgument).
	if _, err := testRemote.Pull(ctx, ref, WithPlainHTTP(addr), WithLibraryDecompression(false)); err != nil {
		t.Fatalf("pull and unpack with containerd decompressing: %v", err)
	}
	if err := testRemote.RemoveImage(ctx, ref); err != nil {
		t.Fatalf("remove after the unpacking pull: %v", err)
	}

	if _, err := testRemote.Pull(ctx, addr+"/test/busybox:nosuchtag", WithPlainHTTP(addr), WithUnpack(false)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tag: %v", err)
	}
	if _, err := testRemote.Pull(ctx, "Bad:Ref:Here"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad ref: %v", err)
	}

	name := "example.com/goimport:v1"
	imgs, err := testRemote.Import(ctx, filepath.Join(dir, "archives", "busybox-oci.tar"), WithImageName(name))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Name != name || imgs[0].Config.StopSignal != "SIGINT" {
		t.Fatalf("imported %+v", imgs)
	}
	if err := testRemote.RemoveImage(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := testRemote.Import(ctx, "/nonexistent.tar"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing archive: %v", err)
	}
}
