// Pins the Gateway API release whose CRDs the real-cluster suite installs (the same release the
// `gateway-api` crate is generated from). Only `go mod download` reads this module: it has no
// code, so it is never tidied. Never `go get -u`.
module kulta.io/tools/gateway-api

go 1.26.0

require sigs.k8s.io/gateway-api v1.5.1
