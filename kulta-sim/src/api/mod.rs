//! The HTTP API: everything between a request on the wire and the store. [`server`] parses the
//! path into a route (with [`query`]), records the request, applies injected faults and
//! dispatches: [`handlers`] serve a resource's verbs ([`collection`] for list, the start of a
//! watch and deletecollection, [`watch`] for event streams, [`scale`] for the scale
//! subresource); [`discovery`] and [`openapi`] describe what is served; [`selectors`] filter lists
//! and watches; [`table`] and [`printers`] render `kubectl get` tables (columns read with
//! [`jsonpath`]); [`protobuf`] decodes protobuf bodies of built-in kinds.

pub(crate) mod collection;
pub(crate) mod discovery;
pub(crate) mod handlers;
pub(crate) mod jsonpath;
pub(crate) mod openapi;
pub(crate) mod printers;
pub(crate) mod protobuf;
pub(crate) mod query;
pub(crate) mod scale;
pub(crate) mod selectors;
pub(crate) mod server;
pub(crate) mod table;
pub(crate) mod watch;
