package libcontainerd

// Tests of the seed's names (seed.go) that need no container, and of the restart
// manager's count on a real containerd.

import (
	"context"
	"fmt"
	"testing"
)

func TestRestartManagerPolicy(t *testing.T) {
	onFailure := func(max int) RestartPolicy {
		return RestartPolicy{Name: RestartPolicyOnFailure, MaximumRetryCount: max}
	}
	cases := []struct {
		policy RestartPolicy
		count  int
		want   RestartPolicy
	}{
		{onFailure(3), 0, onFailure(3)},
		{onFailure(3), 1, onFailure(2)},
		{onFailure(3), 3, RestartPolicy{Name: RestartPolicyNo}},
		{onFailure(3), 7, RestartPolicy{Name: RestartPolicyNo}},
		{onFailure(0), 5, onFailure(0)},
		{onFailure(3), -1, onFailure(3)},
		{RestartPolicy{Name: RestartPolicyAlways}, 9, RestartPolicy{Name: RestartPolicyAlways}},
	}
	for _, c := range cases {
		if got := NewRestartManager(c.policy, c.count).Policy(); got != c.want {
			t.Errorf("NewRestartManager(%+v, %d).Policy() = %+v, want %+v", c.policy, c.count, got, c.want)
		}
	}
	if InitFriendlyName != InitProcessID {
		t.Errorf("InitFriendlyName %q", InitFriendlyName)
	}
	if fmt.Sprint(StateOOM) != "oom" {
		t.Errorf("StateOOM prints as %q", fmt.Sprint(StateOOM))
	}
}

// A restart manager whose count already reached the on-failure bound restarts
// nothing: the container exits once.
func TestWithRestartManagerSpentCount(t *testing.T) {
	c, rec := newClient(t)
	id := uniqueID("rmspent")
	rm := NewRestartManager(RestartPolicy{Name: RestartPolicyOnFailure, MaximumRetryCount: 2}, 2)
	if err := c.Create(context.Background(), id, busyboxSpec("sh", "-c", "exit 1"), WithRestartManager(rm)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 1 {
		t.Errorf("exit %+v", exit)
	}
	if got := fmt.Sprint(rec.states(id)); got != fmt.Sprint([]State{StateStart, StateExit}) {
		t.Errorf("states %s", got)
	}
}
