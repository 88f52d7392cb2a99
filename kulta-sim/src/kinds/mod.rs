//! What the sim knows about each kind it serves. [`resources`] is the table of kinds, built-in
//! or registered by a CRD, with their scope, subresources and printer columns; [`schema`] applies
//! a custom resource's structural schema (defaults, pruning, validation with CEL); [`typed`]
//! decodes built-in kinds through their k8s-openapi types; [`builtin_validation`] checks
//! built-in kinds' own fields; [`builtin_openapi`] holds their OpenAPI component schemas.

pub(crate) mod builtin_openapi;
pub(crate) mod builtin_validation;
pub(crate) mod resources;
pub(crate) mod schema;
pub(crate) mod typed;
