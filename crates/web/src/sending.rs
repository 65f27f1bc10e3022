//! Writing in a conversation from the page: a send (answered with the message's fragment, or a
//! refusal shown beside the box) and a read mark.

use crate::render::{self, Visitor};
use crate::views::{MessageFragment, MessageView};
use app::AppError;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use domain::{ClientId, MessageBody};
use http_api::error::ApiError;
use http_api::ids::conversation_id;
use http_api::limits::within;
use http_api::ApiState;
use kv::Limit;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SendForm {
    body: String,
    client_id: String,
}

/// Shown beside the send box instead of appending anything, with the refusal's real status, so the
/// page keeps the typed text (it clears the box only after a successful send).
fn send_error(status: StatusCode, message: &str) -> Response {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        status,
        [
            (
                HeaderName::from_static("hx-retarget"),
                HeaderValue::from_static("#send-error"),
            ),
            (
                HeaderName::from_static("hx-reswap"),
                HeaderValue::from_static("innerHTML"),
            ),
        ],
        escaped,
    )
        .into_response()
}

pub async fn send(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path(id): Path<String>,
    Form(form): Form<SendForm>,
) -> Response {
    let Ok(id) = conversation_id(&id) else {
        return render::error(ApiError::not_found("conversation"));
    };
    let body = match MessageBody::parse(&form.body) {
        Ok(body) => body,
        Err(e) => {
            return send_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The message {}.", e.message),
            )
        }
    };
    let Ok(client_id) = ClientId::parse(&form.client_id) else {
        return send_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Reload the page and try again.",
        );
    };
    let me = auth.session.user_id;
    if within(&state.rate, Limit::Send, me).await.is_err() {
        return send_error(
            StatusCode::TOO_MANY_REQUESTS,
            "You are sending too fast; wait a moment.",
        );
    }
    let sent = match state.conversations.send(id, me, client_id, body).await {
        Ok(sent) => sent,
        Err(AppError::NotFound(_)) => return render::error(ApiError::not_found("conversation")),
        Err(error) => {
            tracing::warn!(%error, "a web send failed");
            return send_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The message could not be sent; please try again.",
            );
        }
    };
    // Answered from the stored event, as the API does: a send never waits for a read model.
    render::ok(&MessageFragment {
        m: MessageView::new(sent.message(), me.as_uuid()),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReadForm {
    up_to: i64,
}

pub async fn read(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path(id): Path<String>,
    Form(form): Form<ReadForm>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        state
            .conversations
            .mark_read(id, auth.session.user_id, form.up_to.max(0))
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => render::error(error),
    }
}
