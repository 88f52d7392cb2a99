//! Collection reads and writes: list (selectors, paging with continue tokens, Table output),
//! the start of a watch, and deletecollection.

use std::borrow::Cow;
use std::time::Duration;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::api::handlers::{
    ResourceRequest, at_version, delete_options, json_response, raw_json_response, with_version,
};
use crate::api::query::Query;
use crate::api::selectors::{FieldSelector, LabelSelector};
use crate::api::server::App;
use crate::api::table;
use crate::api::watch::{self, WatchRequest};
use crate::api_error::{ApiError, ApiResult};
use crate::kinds::resources::ResourceType;

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    kind: String,
    api_version: String,
    metadata: Value,
    items: Vec<Cow<'a, Value>>,
}

fn selectors(resource: &ResourceType, query: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(
        query.get("fieldSelector").unwrap_or_default(),
        &resource.selectable_fields,
    )?;
    Ok((labels, fields))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn encode_continue(token: &ContinueToken) -> String {
    serde_json::to_vec(token)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(text: &str) -> ApiResult<ContinueToken> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    if !text.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = text
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("zz"), 16))
        .collect();
    serde_json::from_slice(&bytes.map_err(|_| bad())?).map_err(|_| bad())
}

pub(crate) fn list(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let (labels, fields) = selectors(&request.resource, request.query)?;
    let limit = request.query.number("limit")?.filter(|l| *l > 0);
    let token = request
        .query
        .non_empty("continue")
        .map(decode_continue)
        .transpose()?;
    let namespace = if request.resource.namespaced {
        request.path.namespace.as_deref()
    } else {
        None
    };
    let inner = app.store.lock();
    let list_rv = match &token {
        Some(token) => {
            if token.rv < inner.history_floor() {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ));
            }
            token.rv
        }
        None => inner.current_resource_version(),
    };
    let after = token.as_ref().map(|t| (t.ns.clone(), t.name.clone()));
    let candidates = inner.list_after(
        &request.resource.group_resource(),
        namespace,
        after.as_ref(),
    );
    drop(inner);
    let mut matching = candidates
        .iter()
        .filter(|(_, object)| labels.matches(object) && fields.matches(object));
    // A limit beyond what a Vec can hold is no limit.
    let page = limit.map_or(usize::MAX, |limit| {
        usize::try_from(limit).unwrap_or(usize::MAX)
    });
    let selected: Vec<_> = matching
        .by_ref()
        .take(page)
        .map(|(key, object)| (key, object.as_ref()))
        .collect();
    let remaining = matching.count();
    let next = if remaining > 0 {
        selected.last().map(|(key, _)| (*key).clone())
    } else {
        None
    };
    let items: Vec<Cow<'_, Value>> = selected
        .iter()
        .map(|(_, object)| at_version(&request.resource, object))
        .collect();
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if let Some((ns, name)) = next {
        metadata["continue"] = Value::String(encode_continue(&ContinueToken {
            rv: list_rv,
            ns,
            name,
        }));
        metadata["remainingItemCount"] = json!(remaining);
    }
    if request.wants_table() {
        let full = request.query.get("includeObject") == Some("Object");
        let owned: Vec<Value> = items.into_iter().map(Cow::into_owned).collect();
        return Ok(json_response(
            StatusCode::OK,
            &table::to_table(&request.resource, &owned, metadata, full),
        ));
    }
    let body = ListBody {
        kind: request.resource.list_kind(),
        api_version: request.resource.api_version(),
        metadata,
        items,
    };
    Ok(raw_json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

pub(crate) fn start_watch(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let (labels, fields) = selectors(&request.resource, request.query)?;
    let resource_version =
        match request.query.non_empty("resourceVersion") {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {text:?}"))
            })?),
        };
    let send_initial_events = request.query.flag("sendInitialEvents");
    let allow_bookmarks = request.query.flag("allowWatchBookmarks");
    if send_initial_events && !allow_bookmarks {
        return Err(ApiError::unprocessable(
            "ListOptions.meta.k8s.io \"\" is invalid: allowWatchBookmarks: Required value: allowWatchBookmarks must be set to true when sendInitialEvents is set",
        ));
    }
    let timeout = request
        .query
        .number("timeoutSeconds")?
        .map(Duration::from_secs);
    let watch_request = WatchRequest {
        resource: request.resource.clone(),
        namespace: if request.resource.namespaced {
            request.path.namespace.clone()
        } else {
            None
        },
        labels,
        fields,
        resource_version,
        send_initial_events,
        allow_bookmarks,
        timeout,
        as_table: request.wants_table(),
        bookmark_interval: app.settings.bookmark_interval,
    };
    Ok(watch::start(app.store.clone(), watch_request))
}

pub(crate) fn delete_collection(app: &App, request: &ResourceRequest<'_>) -> ApiResult<Response> {
    let (labels, fields) = selectors(&request.resource, request.query)?;
    let options = delete_options(request)?;
    let namespace = if request.resource.namespaced {
        request.path.namespace.as_deref()
    } else {
        None
    };
    let mut inner = app.store.lock();
    let targets = inner.list(&request.resource.group_resource(), namespace);
    let mut items = Vec::new();
    for ((ns, name), object) in targets {
        if !(labels.matches(&object) && fields.matches(&object)) {
            continue;
        }
        if inner
            .delete(&request.resource, &ns, &name, &options)
            .is_ok()
        {
            items.push(with_version(&request.resource, &object));
        }
    }
    let resource_version = inner.current_resource_version();
    drop(inner);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": request.resource.list_kind(),
            "apiVersion": request.resource.api_version(),
            "metadata": {"resourceVersion": resource_version.to_string()},
            "items": items,
        }),
    ))
}
