//! Pages answer within the deadline while the database is failing or coming back, as the API does
//! (see `app`'s `deadline.rs`): a page's steps each wait for a connection on their own.

use crate::render;
use app::Deadline;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_api::error::ApiError;

pub async fn answer_in_time(
    State(deadline): State<Deadline>,
    request: Request,
    next: Next,
) -> Response {
    match deadline.run(next.run(request)).await {
        Ok(response) => response,
        Err(error) => render::error(ApiError::from(error)),
    }
}
