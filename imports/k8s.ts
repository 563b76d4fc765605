// Kubernetes 1.28 API bindings.
//
// These are the classes `cdk8s import k8s@1.28.0` generates from the Kubernetes v1.28.0 schema
// (cdk8s-team/cdk8s, kubernetes-schemas/v1.28.0/_definitions.json). cdk8s-plus-28 ships exactly
// that generated file, so we re-export it instead of committing a 1.2 MB copy that every synth
// would have to transpile. `__tests__/schema.test.ts` validates all output against the schema.
export * from 'cdk8s-plus-28/lib/imports/k8s';
