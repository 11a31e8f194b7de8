// Stop and UpdateRestartPolicy: lcd_client_stop and lcd_client_update_restart_policy.

package libcontainerd

/*
#include "libcontainerd.h"
*/
import "C"

import (
	"context"
	"math"
	"time"
)

// Stop stops container id: it sends sig (0: the container's stop signal — the spec's
// "org.opencontainers.image.stopSignal" annotation, else its image's, else SIGTERM),
// thaws it if paused, sends SIGKILL if init is still alive after timeout, and returns
// once init has exited (its StateExit is queued, not necessarily delivered). It is an
// explicit stop: restart policies are cancelled, also a restart already pending.
// A timeout beyond about 49 days is capped there. ctx bounds the whole call (the
// grace period included): when it is cancelled or its deadline passes first, Stop
// returns ErrCancelled or ErrDeadlineExceeded (and context.Canceled or
// context.DeadlineExceeded) within 100 ms: the stop still counts as explicit
// (restart policies stay cancelled) and its signal, or the SIGKILL, may have been
// sent; the container may still be running or exit later (its StateExit is reported
// as usual).
func (c *Client) Stop(ctx context.Context, id string, sig int, timeout time.Duration) error {
	s, err := cSignal(sig)
	if err != nil {
		return err
	}
	if timeout < 0 {
		return invalidArgument("stop timeout %v is negative", timeout)
	}
	ms := timeout.Milliseconds()
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	return c.withID(ctx, id, func(p *C.lcd_client, cid *C.char, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_stop(p, cid, s, C.uint32_t(ms), call)
	})
}

// UpdateRestartPolicy replaces the restart policy of container id (the restart
// manager's SetPolicy): the new policy decides the container's next exits (the
// restart count and backoff carry on) and is recorded with the container, so that a
// Restore without options uses it. RestartPolicyNo also cancels a restart already
// pending; the container then ends with its StateExit. ctx bounds the call.
func (c *Client) UpdateRestartPolicy(ctx context.Context, id string, policy RestartPolicy) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	js := cs.json("restart policy", &policy)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_update_restart_policy(p, cid, js, call)
	})
}
