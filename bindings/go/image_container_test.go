// Tests of containers created from an image (WithImage) on the shared containerd.
package libcontainerd

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testImage is the image the tests import: two layers (the busybox rootfs, then
// /srv/layer2.txt), a config that runs as user app in /srv and prints what it sees.
const testImage = "lcd.test/go-busybox:v1"

var importOnce sync.Once
var importErr error

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return errors.New(name + " " + strings.Join(args, " ") + ": " + err.Error() + ": " + string(out))
	}
	return nil
}

// importTestImage builds testImage with umoci and skopeo and imports it, without
// unpacking, into the shared containerd with ctr (once).
func importTestImage(t *testing.T) {
	t.Helper()
	importOnce.Do(func() {
		dir := tempDir(t)
		oci, bundle := filepath.Join(dir, "oci"), filepath.Join(dir, "bundle")
		image := oci + ":img"
		archive := filepath.Join(dir, "img.tar")
		cmd := "echo cwd=$(pwd) uid=$(id -u) var=$IMG_VAR; cat layer2.txt"
		steps := [][]string{
			{"umoci", "init", "--layout", oci},
			{"umoci", "new", "--image", image},
			{"umoci", "unpack", "--image", image, bundle},
			{"cp", "-a", testRootfs + "/.", filepath.Join(bundle, "rootfs")},
			{"umoci", "repack", "--refresh-bundle", "--image", image, bundle},
			{"mkdir", "-p", filepath.Join(bundle, "rootfs/srv")},
			{"sh", "-c", "echo layer-two > " + filepath.Join(bundle, "rootfs/srv/layer2.txt")},
			{"umoci", "repack", "--refresh-bundle", "--image", image, bundle},
			{"umoci", "config", "--image", image, "--config.entrypoint", "/bin/sh", "--config.entrypoint", "-c",
				"--config.cmd", cmd, "--config.env", "IMG_VAR=fromimage", "--config.env", "PATH=/bin",
				"--config.workingdir", "/srv", "--config.user", "app"},
			{"skopeo", "copy", "-q", "oci:" + image, "oci-archive:" + archive + ":" + testImage},
			{"ctr", "-a", filepath.Join(testStateDir, "containerd", "containerd.sock"), "-n", "libcontainerd",
				"images", "import", "--no-unpack", archive},
		}
		for _, s := range steps {
			if importErr = run(s[0], s[1:]...); importErr != nil {
				return
			}
		}
	})
	if importErr != nil {
		t.Fatalf("import the test image: %v", importErr)
	}
}

func TestWithImage(t *testing.T) {
	ctx := context.Background()
	importTestImage(t)
	c, rec := newClient(t)
	id := uniqueID("image")
	spec := busyboxSpec()
	spec.Process = nil // all of it from the image
	if err := c.Create(ctx, id, spec, WithImage(testImage)); err != nil {
		t.Fatalf("create from %s: %v", testImage, err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 0 {
		t.Errorf("exit %+v", exit)
	}
	stdout, stderr := rec.output(t, id, "init")
	if stdout != "cwd=/srv uid=1000 var=fromimage\nlayer-two\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	// Another snapshotter; the spec's args win over the image's.
	id2 := uniqueID("image-native")
	if err := c.Create(ctx, id2, busyboxSpec("cat", "/srv/layer2.txt"), WithImage(testImage), WithSnapshotter("native")); err != nil {
		t.Fatalf("create on native: %v", err)
	}
	rec.waitFor(t, id2, StateExit)
	if stdout, stderr := rec.output(t, id2, "init"); stdout != "layer-two\n" {
		t.Errorf("native: stdout %q, stderr %q", stdout, stderr)
	}
	err := c.Create(ctx, uniqueID("noimage"), busyboxSpec("true"), WithImage("lcd.test/none:here"))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("missing image: %v", err)
	}
}
