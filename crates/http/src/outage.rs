//! Every request of a face answers within the deadline while the database is failing or coming
//! back (see `app`'s `deadline.rs`): a request's steps (a look-up, a command, a read) each wait for
//! a connection on their own, so only a bound on the whole keeps its 503 within a second.

use crate::error::ApiError;
use app::Deadline;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The layer's state: the deadline, and how the face answers a request cut at it (the API in
/// JSON, the web page as a page). Not the API's whole state, which would be cloned per request.
#[derive(Clone)]
pub struct Outage {
    deadline: Deadline,
    answer: fn(ApiError) -> Response,
}

impl Outage {
    pub fn new(deadline: Deadline, answer: fn(ApiError) -> Response) -> Self {
        Self { deadline, answer }
    }
}

pub async fn answer_in_time(
    State(outage): State<Outage>,
    request: Request,
    next: Next,
) -> Response {
    match outage.deadline.run(next.run(request)).await {
        Ok(response) => response,
        Err(error) => (outage.answer)(ApiError::from(error)),
    }
}
