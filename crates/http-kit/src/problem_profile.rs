//! Refused profile changes as problems.

use crate::problem::Problem;
use actix_web::http::StatusCode;
use profile::{ChangeError, ProfileError};

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Not Found",
        "the user no longer exists",
    )
}

/// Maps a refused profile change to its problem.
pub fn change_problem(e: ChangeError) -> Problem {
    match e {
        ChangeError::Refused(ProfileError::Forbidden { attribute }) => {
            let pointer = format!("/{}", attribute.replace('.', "/"));
            Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("you may not change {attribute}"),
            )
            .with_errors(vec![(pointer, "this attribute is not writable".into())])
        }
        ChangeError::Refused(ProfileError::Invalid(errors)) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            "some values are invalid",
        )
        .with_errors(errors),
        ChangeError::NoSuchUser => not_found(),
        ChangeError::Conflict => Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "the profile was changed at the same time; reload and try again",
        ),
        ChangeError::Service(e) => Problem::internal(e),
    }
}
