//! A group's members panel: who is in it with their roles, and the controls the viewer may use
//! (add, remove, rename, make or unmake an admin, hand over). Its forms post with htmx and get the
//! panel back, a refused one with the reason beside the field and its real status; the page also
//! asks for the panel again when a membership entry arrives on the socket. Controls a member may
//! not use are not shown, and the commands refuse them anyway (the same `app::Conversations` as
//! the API).

use crate::groups::sentence;
use crate::render::{self, Visitor};
use crate::views::{MemberView, MembersPanel};
use app::{AppError, Membership};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use domain::{ConversationId, GroupTitle, Role, UserId};
use http_api::error::ApiError;
use http_api::ids::conversation_id;
use http_api::ApiState;
use serde::Deserialize;

/// The members panel for `me`, with what was typed and refused, if anything.
pub(crate) fn panel(id: ConversationId, me: UserId, membership: &Membership) -> MembersPanel {
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

/// The panel as an answer to htmx, or back to the conversation for a plain form post.
fn answer(headers: &HeaderMap, status: StatusCode, panel: &MembersPanel) -> Response {
    if status.is_success() && !headers.contains_key("hx-request") {
        return Redirect::to(&format!("/conversations/{}", panel.id)).into_response();
    }
    render::page(status, panel)
}

/// The panel of the group as it is now (after a change, or its refusal).
async fn current_panel(
    state: &ApiState,
    id: ConversationId,
    me: UserId,
) -> Result<MembersPanel, ApiError> {
    let membership = state.conversations.for_member(id, me).await?;
    Ok(panel(id, me, &membership))
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
    let outcome = match conversation_id(&id) {
        Ok(id) => current_panel(&state, id, auth.session.user_id).await,
        Err(error) => Err(error),
    };
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
    let mut panel = match current_panel(&state, id, me).await {
        Ok(panel) => panel,
        Err(error) => return render::error(error),
    };
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
    let mut panel = match current_panel(&state, id, me).await {
        Ok(panel) => panel,
        Err(error) => return render::error(error),
    };
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
    let mut panel = match current_panel(&state, id, me).await {
        Ok(panel) => panel,
        Err(error) => return render::error(error),
    };
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
    let mut panel = match current_panel(&state, id, me).await {
        Ok(panel) => panel,
        Err(error) => return render::error(error),
    };
    panel.role_error = role_error;
    panel.notice = notice;
    answer(&headers, status, &panel)
}
