//! The store and the API server's write rules. [`store`] holds objects, resource versions and
//! the event history that watches replay; [`write`] takes a create or update through the write
//! pipeline (metadata rules in [`objectmeta`], built-in defaults in [`defaults`], the
//! CustomResourceDefinition hooks in [`crd`]); [`patch`] and [`ssa`] compute patched objects and
//! server-side apply's field ownership; [`delete`] and [`gc`] carry out finalizers, propagation
//! policies and owner-reference garbage collection.

pub(crate) mod crd;
pub(crate) mod defaults;
pub(crate) mod delete;
pub(crate) mod gc;
pub(crate) mod objectmeta;
pub(crate) mod patch;
pub(crate) mod ssa;
pub(crate) mod store;
pub(crate) mod write;
