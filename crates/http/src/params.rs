//! `ApiPath<T>` and `ApiQuery<T>`: path and query extractors whose every rejection has the API's
//! error shape (axum's own answer in plain text).
//!
//! A path segment that is not valid UTF-8 names nothing here: 404, like any other unknown id. A
//! query that does not fit (a repeated parameter, a wrong type) is a 422 naming the parameter.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "path refused");
                Err(ApiError::not_found("resource"))
            }
        }
    }
}

pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let field = if path == "." {
            // Errors about the whole query name their parameter in backticks, e.g.
            // "duplicate field `limit`".
            message.split('`').nth(1).unwrap_or("query").to_owned()
        } else {
            path
        };
        ApiError::validation(field, format!("invalid query: {message}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: Option<String>,
        #[allow(dead_code)]
        after: Option<i64>,
    }

    #[test]
    fn a_refused_query_names_its_parameter() {
        let cases = [
            ("limit=1&limit=2", "limit"),
            ("after=x", "after"),
            ("after=1&after=2", "after"),
        ];
        for (query, field) in cases {
            let error = parse::<Page>(query).unwrap_err();
            assert_eq!(error.field(), Some(field), "{query}");
            assert_eq!(error.status().as_u16(), 422, "{query}");
        }
        assert!(parse::<Page>("limit=5&after=3&unknown=1").is_ok());
    }
}
