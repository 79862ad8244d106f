//! `GET services.json` and `GET services/{service_code}.json`: one service per category of the
//! serving model's taxonomy. The service code is the category code, the group the name of the
//! category's default department (the taxonomy has no other grouping), the keywords its typical
//! phrasings. No service needs extra attributes (`metadata = false`) and every POST answers its
//! id at once (`type = realtime`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use paidan_model::{Category, Taxonomy};
use serde::Serialize;

use super::error::Open311Error;
use super::{Open311, strip_json};

/// One entry of the service list.
#[derive(Debug, Serialize)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    pub metadata: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub keywords: String,
    pub group: Option<String>,
}

/// A service definition: the code and its attributes (none).
#[derive(Debug, Serialize)]
pub struct Definition {
    pub service_code: String,
    pub attributes: Vec<serde_json::Value>,
}

pub fn service(taxonomy: &Taxonomy, c: &Category) -> Service {
    Service {
        service_code: c.code.clone(),
        service_name: c.name.clone(),
        description: c.description.clone(),
        metadata: false,
        kind: "realtime",
        keywords: c.phrases.join(","),
        group: taxonomy
            .department_name(&c.default_department)
            .map(str::to_owned),
    }
}

pub async fn list(State(s): State<Arc<Open311>>) -> Result<Json<Vec<Service>>, Open311Error> {
    let model = s.intake.model().ok_or_else(Open311Error::no_model)?;
    let taxonomy = model.taxonomy();
    Ok(Json(
        taxonomy
            .categories()
            .iter()
            .map(|c| service(taxonomy, c))
            .collect(),
    ))
}

pub async fn definition(
    State(s): State<Arc<Open311>>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Definition>, Open311Error> {
    let Path(file) = path?;
    let code = strip_json(&file)?;
    let model = s.intake.model().ok_or_else(Open311Error::no_model)?;
    let c = model.taxonomy().category(code).ok_or_else(|| {
        Open311Error::not_found(format!(
            "service_code {code:?} was not found: services.json lists the services"
        ))
    })?;
    Ok(Json(Definition {
        service_code: c.code.clone(),
        attributes: Vec::new(),
    }))
}
