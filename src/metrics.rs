//! containerd's cgroup metrics (`Tasks.Metrics`) turned into the stats JSON.
