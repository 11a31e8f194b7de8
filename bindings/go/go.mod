module github.com/libcontainerd/libcontainerd/bindings/go

go 1.19

require github.com/opencontainers/runtime-spec v1.3.0
