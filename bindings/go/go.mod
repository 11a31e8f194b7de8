module github.com/libcontainerd/libcontainerd/bindings/go

go 1.21

require github.com/opencontainers/runtime-spec v1.3.0
