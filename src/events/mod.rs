//! containerd's event stream: subscription, decoding and per-container ordered dispatch.
