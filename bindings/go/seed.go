package libcontainerd

// The seed API's names (Docker's libcontainerd of v1.12) that this package spells
// differently, kept so that programs written against them build unchanged; doc.go
// lists every renamed item.

// InitFriendlyName is the seed's name of InitProcessID: the process id ("friendly
// name") of a container's first process.
const InitFriendlyName = InitProcessID

// RestartManager is the seed's restart manager of one container
// (restartmanager.New(policy, restartCount)): a restart policy and the number of
// restarts the container already had, for WithRestartManager. The library keeps the
// count, the backoff and the cancellation on an explicit stop itself.
type RestartManager struct {
	policy       RestartPolicy
	restartCount int
}

// NewRestartManager returns the restart manager of a container that already had
// restartCount restarts under policy (0 for a new container), as the seed's
// restartmanager.New does. The count matters only to RestartPolicyOnFailure, whose
// MaximumRetryCount bounds the restarts of the container's whole life; a negative
// count counts as 0.
func NewRestartManager(policy RestartPolicy, restartCount int) *RestartManager {
	if restartCount < 0 {
		restartCount = 0
	}
	return &RestartManager{policy: policy, restartCount: restartCount}
}

// Policy returns the restart policy the manager applies from now on: the restarts
// left to an on-failure policy with a bound (its MaximumRetryCount minus the restarts
// already made), or RestartPolicyNo once that bound is reached.
func (rm *RestartManager) Policy() RestartPolicy {
	p := rm.policy
	if p.Name != RestartPolicyOnFailure || p.MaximumRetryCount == 0 || rm.restartCount == 0 {
		return p
	}
	if rm.restartCount >= p.MaximumRetryCount {
		return RestartPolicy{Name: RestartPolicyNo}
	}
	p.MaximumRetryCount -= rm.restartCount
	return p
}

// WithRestartManager is the seed's create option for a restart policy: it gives the
// container rm's policy, as WithRestartPolicy(rm.Policy()) does. A nil rm changes
// nothing.
func WithRestartManager(rm *RestartManager) CreateOption {
	return func(o *createOptions) {
		if rm == nil {
			return
		}
		p := rm.Policy()
		o.RestartPolicy = &p
	}
}
