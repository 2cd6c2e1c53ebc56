//! Extractors that fail in the SPEC §3 error shape instead of axum's plain-text rejections.
//! JSON bodies are read whatever the Content-Type says: the seed's `curl -d` sends
//! `application/x-www-form-urlencoded`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::code::Code;
use super::error::ApiError;
use super::AppState;

/// A JSON body, at most `--max-request-bytes`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match MaybeJson::<T>::from_request(req, state).await?.0 {
            Some(v) => Ok(ApiJson(v)),
            None => Err(empty_body()),
        }
    }
}

/// A JSON body that may be absent (an empty body is `None`).
pub struct MaybeJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if is_blank(&bytes) {
            return Ok(MaybeJson(None));
        }
        parse_json(&bytes).map(|v| MaybeJson(Some(v)))
    }
}

/// A JSON body as it arrived, for a handler that parses it borrowing from it ([`parse_json`]):
/// the same limit and the same empty-body error as [`ApiJson`].
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if is_blank(&bytes) {
            return Err(empty_body());
        }
        Ok(JsonBytes(bytes))
    }
}

fn empty_body() -> ApiError {
    ApiError::bad_request(
        Code::MalformedJson,
        "the request body is empty; a JSON object is expected",
    )
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// The body, at most `--max-request-bytes`.
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.limits.max_request_bytes;
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                ApiError::too_large(
                    Code::RequestTooLarge,
                    format!("the request body is over the {limit}-byte limit"),
                )
            } else {
                ApiError::bad_request(
                    Code::BadBody,
                    format!("could not read the request body: {e}"),
                )
            }
        })
}

/// Parse a JSON body (not blank) into `T`, which may borrow from it; errors in the SPEC §3 shape,
/// naming the field that failed.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    // The common case parses without tracking the path (serde_path_to_error costs on every
    // field); only a body that fails is parsed again, with the path, for the error's text.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    if let Ok(value) = T::deserialize(&mut de) {
        de.end()
            .map_err(|e| ApiError::bad_request(Code::MalformedJson, e.to_string()))?;
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_data() {
            Code::InvalidField
        } else {
            Code::MalformedJson
        };
        let msg = if path == "." {
            format!("{inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request(what, msg)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(Code::MalformedJson, e.to_string()))?;
    Ok(value)
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(Code::InvalidQuery, e.body_text()))
    }
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(Code::InvalidPath, e.body_text()))
    }
}
