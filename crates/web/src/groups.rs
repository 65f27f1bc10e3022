//! Groups on the page: creating one, what a group's conversation page shows besides its
//! messages (the members panel, the read marks "seen by" is counted from), and leaving. The panel
//! and its forms are in `members.rs`, who read a message in `receipts.rs`.

use crate::chat::{list, WAIT};
use crate::members::panel;
use crate::render::{self, Visitor};
use crate::views::{GroupView, NewGroupForm};
use app::{AppError, Membership};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::{ConversationId, GroupTitle, UserId};
use http_api::error::ApiError;
use http_api::ids::conversation_id;
use http_api::limits::within;
use http_api::ApiState;
use kv::Limit;
use projections::history::receipts;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Usernames as people type a list of them: separated by commas, semicolons or spaces, with an
/// optional `@`; empty pieces dropped.
fn usernames(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(|name| name.trim_start_matches('@'))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An app error's message as a sentence for the page ("there is no user named x" ->
/// "There is no user named x.").
pub(crate) fn sentence(error: &AppError) -> String {
    let message = error.public_message();
    let mut chars = message.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateForm {
    title: String,
    members: String,
}

pub async fn create(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Form(form): Form<CreateForm>,
) -> Response {
    let me = auth.session.user_id;
    let refused = |title_error: Option<String>, members_error: Option<String>| NewGroupForm {
        title: form.title.clone(),
        members: form.members.clone(),
        title_error,
        members_error,
        open: true,
    };
    let outcome = match GroupTitle::parse(&form.title) {
        Err(e) => Err(refused(Some(format!("The name {}.", e.message)), None)),
        Ok(title) => match within(&state.rate, Limit::Start, me).await {
            Err(error) => return render::error(error),
            Ok(()) => match state
                .conversations
                .create_group(me, title, &usernames(&form.members))
                .await
            {
                Ok(created) => Ok(created),
                Err(error @ AppError::Validation(_)) => Err(refused(None, Some(sentence(&error)))),
                Err(error) => return render::error(error.into()),
            },
        },
    };
    match outcome {
        Ok((id, appended)) => {
            if let Some(position) = appended {
                state.history.wait_for(position, WAIT).await;
            }
            Redirect::to(&format!("/conversations/{id}")).into_response()
        }
        Err(group) => match list(&state, &auth, String::new(), None, group).await {
            Ok(page) => render::page(StatusCode::UNPROCESSABLE_ENTITY, &page),
            Err(error) => render::error(error),
        },
    }
}

/// What the conversation page shows of a group besides its messages.
pub async fn group_view(
    state: &ApiState,
    id: ConversationId,
    me: UserId,
    membership: &Membership,
) -> Result<GroupView, ApiError> {
    let panel = panel(id, me, membership);
    let marks: BTreeMap<String, [i64; 2]> = receipts::read_marks(&state.pool, id.as_uuid())
        .await?
        .into_iter()
        .filter(|m| m.user_id != me.as_uuid())
        .map(|m| (m.user_id.to_string(), [m.read_up_to, m.joined_after]))
        .collect();
    let marks = serde_json::to_string(&marks).map_err(|e| ApiError::internal(&e))?;
    Ok(GroupView {
        title: panel.title.clone(),
        member_count: panel.members.len(),
        marks,
        panel_html: panel.render().map_err(|e| ApiError::internal(&e))?,
    })
}

pub async fn leave(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path(id): Path<String>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        let me = auth.session.user_id;
        let username = state.accounts.profile(me).await?.username;
        let appended = state
            .conversations
            .remove_member(id, me, username.as_str())
            .await?;
        if let Some(position) = appended {
            state.history.wait_for(position, WAIT).await;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => Redirect::to("/conversations").into_response(),
        Err(error) => render::error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_list_of_usernames_splits_on_commas_and_spaces() {
        assert_eq!(
            usernames("ben, cat  @dan;eve"),
            ["ben", "cat", "dan", "eve"]
        );
        assert!(usernames(" , ").is_empty());
    }

    #[test]
    fn refusals_read_as_sentences() {
        let error = AppError::Validation(domain::ValidationError::new(
            "members",
            "there is no user named zed",
        ));
        assert_eq!(sentence(&error), "There is no user named zed.");
    }
}
