module github.com/libcontainerd/libcontainerd/examples/go

go 1.21

require github.com/libcontainerd/libcontainerd/bindings/go v0.0.0

require github.com/opencontainers/runtime-spec v1.3.0 // indirect

replace github.com/libcontainerd/libcontainerd/bindings/go => ../../bindings/go
