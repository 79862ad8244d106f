//! `paidan.v1.Intake`: thin handlers — validate the wire form, convert, call the domain, convert
//! back.

use std::pin::Pin;
use std::sync::Arc;

use crate::access::Caller;
use futures::{Stream, StreamExt};
use paidan_core::{DueFilter, Intake, TriageText, now_millis, triage_record};
use paidan_proto::convert::{
    asked, candidate_to_proto, case_to_proto, check_channel, complaint, figures_to_proto,
    hot_issue_to_proto, millis, return_reason_from_proto, satisfaction_from_proto,
    status_from_proto, submitted_to_proto, triage_to_proto,
};
use paidan_proto::v1;
use paidan_store::CaseFilter;
use tonic::{Request, Response, Status, Streaming};

use super::status::{ApiError, invalid};

pub struct IntakeApi {
    intake: Arc<Intake>,
}

impl IntakeApi {
    pub fn new(intake: Arc<Intake>) -> IntakeApi {
        IntakeApi { intake }
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

type ResponseStream =
    Pin<Box<dyn Stream<Item = Result<v1::SubmitComplaintResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl v1::intake_server::Intake for IntakeApi {
    async fn triage(
        &self,
        req: Request<v1::TriageRequest>,
    ) -> Result<Response<v1::TriageResponse>, Status> {
        let r = req.into_inner();
        check_channel(r.channel, false).map_err(invalid)?;
        let at = self
            .intake
            .locate(&r.jurisdiction, &r.title, &r.text, "")
            .map_err(ApiError)?;
        let t = self
            .intake
            .triage(TriageText {
                title: r.title,
                text: r.text,
                jurisdiction: at.jurisdiction.clone(),
            })
            .await
            .map_err(ApiError)?;
        let co = self
            .intake
            .co_departments(&at.jurisdiction, &t.category.code, &t.department.code);
        Ok(Response::new(triage_to_proto(
            &triage_record(&t),
            &co,
            &at.places,
        )))
    }

    async fn submit_complaint(
        &self,
        req: Request<v1::SubmitComplaintRequest>,
    ) -> Result<Response<v1::SubmitComplaintResponse>, Status> {
        let r = req.into_inner();
        let asked = asked(&r).map_err(invalid)?;
        let s = self
            .intake
            .submit_asked(complaint(r).map_err(invalid)?, asked)
            .await
            .map_err(ApiError)?;
        Ok(Response::new(submitted_to_proto(s)))
    }

    type SubmitComplaintsStream = ResponseStream;

    async fn submit_complaints(
        &self,
        req: Request<Streaming<v1::SubmitComplaintRequest>>,
    ) -> Result<Response<Self::SubmitComplaintsStream>, Status> {
        let intake = self.intake.clone();
        // Up to 64 complaints of one stream in flight at once; responses keep request order.
        let out = req
            .into_inner()
            .map(move |item| {
                let intake = intake.clone();
                async move {
                    let r = item?;
                    let asked = asked(&r).map_err(invalid)?;
                    let s = intake
                        .submit_asked(complaint(r).map_err(invalid)?, asked)
                        .await
                        .map_err(ApiError)?;
                    Ok(submitted_to_proto(s))
                }
            })
            .buffered(64);
        Ok(Response::new(Box::pin(out)))
    }

    async fn get_case(
        &self,
        req: Request<v1::GetCaseRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let id = req.into_inner().case_id;
        if id.trim().is_empty() {
            return Err(invalid("case_id is empty"));
        }
        let c = self.intake.get_case(id).await.map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn list_cases(
        &self,
        req: Request<v1::ListCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let channel = match r.channel {
            0 => None,
            n => Some(check_channel(n, false).map_err(invalid)?),
        };
        let filter = CaseFilter {
            status: status_from_proto(r.status).map_err(invalid)?,
            category: non_empty(r.category),
            department: non_empty(r.department),
            channel,
            jurisdiction: non_empty(r.jurisdiction),
            received_after: r.received_after.as_ref().map(millis),
            received_before: r.received_before.as_ref().map(millis),
        };
        if r.page_size > 1000 {
            return Err(invalid(format!(
                "page_size {} is over the limit of 1000",
                r.page_size
            )));
        }
        let due = DueFilter {
            overdue_at: r.overdue.then(now_millis),
            due_before: r.due_before.as_ref().map(millis),
        };
        let page = self
            .intake
            .list_cases_due(filter, due, r.page_size as usize, non_empty(r.page_token))
            .await
            .map_err(ApiError)?;
        Ok(Response::new(v1::ListCasesResponse {
            cases: page
                .cases
                .iter()
                .map(|c| case_to_proto(c, !caller.sees_personal_data()))
                .collect(),
            next_page_token: page.next_token.unwrap_or_default(),
        }))
    }

    async fn update_case_status(
        &self,
        req: Request<v1::UpdateCaseStatusRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let to = status_from_proto(r.status)
            .map_err(invalid)?
            .ok_or_else(|| invalid("status is required"))?;
        let c = self
            .intake
            .update_status(r.case_id, to, r.note.clone(), caller.actor(&r.actor))
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn return_case(
        &self,
        req: Request<v1::ReturnCaseRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let reason = return_reason_from_proto(r.reason).map_err(invalid)?;
        let c = self
            .intake
            .return_case(
                r.case_id,
                r.department,
                reason,
                r.note.clone(),
                caller.actor(&r.actor),
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn record_follow_up(
        &self,
        req: Request<v1::RecordFollowUpRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let satisfaction = satisfaction_from_proto(r.satisfaction).map_err(invalid)?;
        let c = self
            .intake
            .record_follow_up(
                r.case_id,
                satisfaction,
                r.note.clone(),
                caller.actor(&r.actor),
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn extend_deadline(
        &self,
        req: Request<v1::ExtendDeadlineRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let c = self
            .intake
            .extend_deadline(
                r.case_id,
                r.working_days,
                r.reason.clone(),
                caller.actor(&r.actor),
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn correct_case(
        &self,
        req: Request<v1::CorrectCaseRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let c = self
            .intake
            .correct_case(
                r.case_id,
                non_empty(r.category),
                non_empty(r.department),
                r.note.clone(),
                caller.actor(&r.actor),
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn find_duplicates(
        &self,
        req: Request<v1::FindDuplicatesRequest>,
    ) -> Result<Response<v1::FindDuplicatesResponse>, Status> {
        let r = req.into_inner();
        let limit = if r.limit == 0 { 5 } else { r.limit as usize };
        let found = self
            .intake
            .find_duplicates(
                r.title,
                r.text,
                r.jurisdiction,
                r.address,
                r.received_at.as_ref().map(millis),
                limit,
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(v1::FindDuplicatesResponse {
            candidates: found.into_iter().map(candidate_to_proto).collect(),
        }))
    }

    async fn list_hot_issues(
        &self,
        req: Request<v1::ListHotIssuesRequest>,
    ) -> Result<Response<v1::ListHotIssuesResponse>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let issues = self
            .intake
            .hot_issues(
                non_empty(r.jurisdiction),
                non_empty(r.category),
                r.since.as_ref().map(millis),
                r.until.as_ref().map(millis),
                r.limit as usize,
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(v1::ListHotIssuesResponse {
            issues: issues
                .iter()
                .map(|h| hot_issue_to_proto(h, !caller.sees_personal_data()))
                .collect(),
        }))
    }

    async fn get_department_stats(
        &self,
        req: Request<v1::GetDepartmentStatsRequest>,
    ) -> Result<Response<v1::GetDepartmentStatsResponse>, Status> {
        let r = req.into_inner();
        let f = self
            .intake
            .department_stats(
                non_empty(r.jurisdiction),
                r.since.as_ref().map(millis),
                r.until.as_ref().map(millis),
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(figures_to_proto(&f)))
    }

    async fn split_report(
        &self,
        req: Request<v1::SplitReportRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let c = self
            .intake
            .split_report(r.case_id.clone(), r.note.clone(), caller.actor(&r.actor))
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }

    async fn merge_cases(
        &self,
        req: Request<v1::MergeCasesRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let c = self
            .intake
            .merge_cases(
                r.master_case_id.clone(),
                r.duplicate_case_id.clone(),
                r.note.clone(),
                caller.actor(&r.actor),
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(case_to_proto(
            &c,
            !caller.sees_personal_data(),
        )))
    }
}
