//! Profiles: standard claims, custom attributes and access rights (see SPEC §4). Nothing here yet.
