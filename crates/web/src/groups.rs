//! Groups on the page: creating one, the members panel (add, remove, rename, leave) and who has
//! read a message. The panel's forms post with htmx and get the panel back, refused ones with the
//! reason beside the field and their real status; the page also refreshes the panel when a
//! membership entry arrives on the socket. Controls a member may not use are not shown, and the
//! commands refuse them anyway (the same `app::Conversations` as the API).

use crate::chat::{list, WAIT};
use crate::render::{self, Visitor};
use crate::views::{GroupView, MemberView, MembersPanel, NewGroupForm, ReadersFragment};
use app::{AppError, Membership};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::{ConversationId, GroupTitle, Role, UserId};
use http_api::error::ApiError;
use http_api::ids::{conversation_id, message_id as parse_message_id};
use http_api::limits::within;
use http_api::ApiState;
use kv::Limit;
use projections::history::{queries, receipts};
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
fn sentence(error: &AppError) -> String {
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

/// The members panel for `me`, with what was typed and refused, if anything.
fn panel(id: ConversationId, me: UserId, membership: &Membership) -> MembersPanel {
    let roster = membership.roster();
    let my_role = roster.role(me).unwrap_or(Role::Member);
    let title = roster
        .title()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    MembersPanel {
        id: id.as_uuid(),
        manages: my_role.manages(),
        owner: my_role == Role::Owner,
        role_error: None,
        members: roster
            .members()
            .iter()
            .map(|m| {
                let role = roster.role(m.id).unwrap_or(Role::Member);
                MemberView {
                    username: m.username.to_string(),
                    display_name: m.display_name.to_string(),
                    role: role.as_str(),
                    me: m.id == me,
                    removable: m.id != me && my_role.may_remove(role),
                }
            })
            .collect(),
        add: String::new(),
        add_error: None,
        rename: title.clone(),
        rename_error: None,
        notice: String::new(),
        title,
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

/// The panel as an answer to htmx, or back to the conversation for a plain form post.
fn answer(headers: &HeaderMap, status: StatusCode, panel: &MembersPanel) -> Response {
    if status.is_success() && !headers.contains_key("hx-request") {
        return Redirect::to(&format!("/conversations/{}", panel.id)).into_response();
    }
    render::page(status, panel)
}

/// The refusal's status and what to say beside the field; `None` for what the page cannot
/// explain in the panel (not a member any more, an outage): an error page.
fn refusal(error: &AppError) -> Option<StatusCode> {
    match error {
        AppError::Validation(_) => Some(StatusCode::UNPROCESSABLE_ENTITY),
        AppError::Forbidden { .. } => Some(StatusCode::FORBIDDEN),
        AppError::Conflict { .. } => Some(StatusCode::CONFLICT),
        _ => None,
    }
}

pub async fn members(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path(id): Path<String>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        let me = auth.session.user_id;
        let membership = state.conversations.for_member(id, me).await?;
        Ok::<_, ApiError>(panel(id, me, &membership))
    }
    .await;
    match outcome {
        Ok(panel) => render::ok(&panel),
        Err(error) => render::error(error),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddForm {
    username: String,
}

pub async fn add(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AddForm>,
) -> Response {
    let Ok(id) = conversation_id(&id) else {
        return render::error(ApiError::not_found("conversation"));
    };
    let me = auth.session.user_id;
    let wanted = form.username.trim().trim_start_matches('@').to_owned();
    let outcome = if wanted.is_empty() {
        Err(AppError::Validation(domain::ValidationError::new(
            "username",
            "type the username of the person to add",
        )))
    } else {
        state.conversations.add_member(id, me, &wanted).await
    };
    let (status, add_error, notice) = match outcome {
        Ok((added, _)) => (
            StatusCode::OK,
            None,
            format!("{} is in the group.", added.display_name),
        ),
        Err(error) => match refusal(&error) {
            Some(status) => (status, Some(sentence(&error)), String::new()),
            None => return render::error(error.into()),
        },
    };
    let membership = match state.conversations.for_member(id, me).await {
        Ok(membership) => membership,
        Err(error) => return render::error(error.into()),
    };
    let mut panel = panel(id, me, &membership);
    if add_error.is_some() {
        panel.add = wanted;
    }
    panel.add_error = add_error;
    panel.notice = notice;
    answer(&headers, status, &panel)
}

pub async fn remove(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    headers: HeaderMap,
    Path((id, username)): Path<(String, String)>,
) -> Response {
    let Ok(id) = conversation_id(&id) else {
        return render::error(ApiError::not_found("conversation"));
    };
    let me = auth.session.user_id;
    let (status, notice) = match state.conversations.remove_member(id, me, &username).await {
        Ok(_) => (StatusCode::OK, format!("@{username} was removed.")),
        // Gone already (someone else removed them): the panel shows the group as it is.
        Err(AppError::NotFound("member")) => (StatusCode::OK, String::new()),
        Err(error) => match refusal(&error) {
            Some(status) => (status, sentence(&error)),
            None => return render::error(error.into()),
        },
    };
    let membership = match state.conversations.for_member(id, me).await {
        Ok(membership) => membership,
        Err(error) => return render::error(error.into()),
    };
    let mut panel = panel(id, me, &membership);
    panel.notice = notice;
    answer(&headers, status, &panel)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RenameForm {
    title: String,
}

pub async fn rename(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RenameForm>,
) -> Response {
    let Ok(id) = conversation_id(&id) else {
        return render::error(ApiError::not_found("conversation"));
    };
    let me = auth.session.user_id;
    let outcome = match GroupTitle::parse(&form.title) {
        Ok(title) => state.conversations.rename(id, me, title).await,
        Err(e) => Err(AppError::Validation(e)),
    };
    let (status, rename_error) = match outcome {
        Ok(_) => (StatusCode::OK, None),
        Err(AppError::Validation(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(format!("The name {}.", e.message)),
        ),
        Err(error) => match refusal(&error) {
            Some(status) => (status, Some(sentence(&error))),
            None => return render::error(error.into()),
        },
    };
    let membership = match state.conversations.for_member(id, me).await {
        Ok(membership) => membership,
        Err(error) => return render::error(error.into()),
    };
    let mut panel = panel(id, me, &membership);
    if rename_error.is_some() {
        panel.rename = form.title;
    } else {
        panel.notice = "The group was renamed.".to_owned();
    }
    panel.rename_error = rename_error;
    answer(&headers, status, &panel)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

/// The owner makes or unmakes an admin, or hands the group over.
pub async fn set_role(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    headers: HeaderMap,
    Path((id, username)): Path<(String, String)>,
    Form(form): Form<RoleForm>,
) -> Response {
    let Ok(id) = conversation_id(&id) else {
        return render::error(ApiError::not_found("conversation"));
    };
    let me = auth.session.user_id;
    let outcome = match form.role.as_str() {
        "owner" => Ok(Role::Owner),
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        _ => Err(AppError::Validation(domain::ValidationError::new(
            "role",
            "must be owner, admin or member",
        ))),
    };
    let outcome = match outcome {
        Ok(role) => state.conversations.set_role(id, me, &username, role).await,
        Err(error) => Err(error),
    };
    let (status, role_error, notice) = match outcome {
        Ok(_) => (StatusCode::OK, None, "The roles were changed.".to_owned()),
        Err(error) => match refusal(&error) {
            Some(status) => (status, Some(sentence(&error)), String::new()),
            None => return render::error(error.into()),
        },
    };
    let membership = match state.conversations.for_member(id, me).await {
        Ok(membership) => membership,
        Err(error) => return render::error(error.into()),
    };
    let mut panel = panel(id, me, &membership);
    panel.role_error = role_error;
    panel.notice = notice;
    answer(&headers, status, &panel)
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

/// Who has read a message, for the "Seen by" line of one's own messages.
pub async fn readers(
    State(state): State<ApiState>,
    Visitor(auth): Visitor,
    Path((id, message_id)): Path<(String, String)>,
) -> Response {
    let outcome = async {
        let id = conversation_id(&id)?;
        let message_id = parse_message_id(&message_id)?;
        let me = auth.session.user_id;
        let membership = state.conversations.for_member(id, me).await?;
        let after = membership.roster().joined_after(me).unwrap_or(0);
        state
            .history
            .catch_up(WAIT)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let row = queries::message(&state.pool, message_id)
            .await?
            .filter(|m| m.conversation_id == id.as_uuid() && m.seq > after)
            .ok_or_else(|| ApiError::not_found("message"))?;
        let marks = receipts::read_marks(&state.pool, id.as_uuid()).await?;
        Ok::<_, ApiError>(ReadersFragment {
            names: receipts::readers(&marks, row.seq, row.sender_id)
                .into_iter()
                .map(|m| m.display_name)
                .collect(),
        })
    }
    .await;
    match outcome {
        Ok(fragment) => render::ok(&fragment),
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
