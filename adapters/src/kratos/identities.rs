//! The identity provider port over the Kratos admin API: one method per
//! Kratos endpoint the service uses.

use async_trait::async_trait;
use identity_link_ports::{
    AuthId, IdentityError, IdentityPage, IdentityProvider, KratosIdentity, PageToken, UserId,
};
use reqwest::Method;

use super::send::Attempt;
use super::{link_header, printable, IdentityDto, KratosAdmin};

#[async_trait]
impl IdentityProvider for KratosAdmin {
    async fn get_identity(&self, id: AuthId) -> Result<KratosIdentity, IdentityError> {
        let url = self.url(&format!("/admin/identities/{id}"));
        let response = self
            .send("get_identity", || self.request(Method::GET, url.clone()))
            .await?;
        let dto: IdentityDto = Self::json("get_identity", response).await?;
        dto.into_domain()
    }

    async fn find_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Vec<KratosIdentity>, IdentityError> {
        let mut url = self.url("/admin/identities");
        url.query_pairs_mut()
            .append_pair("credentials_identifier", identifier);
        let response = self
            .send("find_by_identifier", || {
                self.request(Method::GET, url.clone())
            })
            .await?;
        let dtos: Vec<IdentityDto> = Self::json("find_by_identifier", response).await?;
        dtos.into_iter().map(IdentityDto::into_domain).collect()
    }

    async fn list_page(
        &self,
        page_size: u32,
        page: Option<PageToken>,
    ) -> Result<IdentityPage, IdentityError> {
        let mut url = self.url("/admin/identities");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("page_size", &page_size.clamp(1, 500).to_string());
            if let Some(PageToken(token)) = &page {
                query.append_pair("page_token", token);
            }
        }
        let response = self
            .send("list_identities", || self.request(Method::GET, url.clone()))
            .await?;
        let next = link_header::next_page_token(
            response
                .headers()
                .get_all(reqwest::header::LINK)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        )
        .map(PageToken);
        let dtos: Vec<IdentityDto> = Self::json("list_identities", response).await?;
        let identities = dtos
            .into_iter()
            .map(IdentityDto::into_domain)
            .collect::<Result<_, _>>()?;
        Ok(IdentityPage { identities, next })
    }

    async fn set_external_id(&self, id: AuthId, user: UserId) -> Result<(), IdentityError> {
        let url = self.url(&format!("/admin/identities/{id}"));
        let patch = serde_json::json!([
            {"op": "add", "path": "/external_id", "value": user.to_string()}
        ]);
        self.send("patch_identity", || {
            self.request(Method::PATCH, url.clone()).json(&patch)
        })
        .await?;
        Ok(())
    }

    async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<KratosIdentity>, IdentityError> {
        let mut url = self.url("/admin/identities/by/external/");
        url.path_segments_mut()
            .map_err(|()| IdentityError::Malformed("the admin URL cannot have a path".into()))?
            .pop_if_empty()
            .push(external_id);
        match self
            .send("get_identity_by_external_id", || {
                self.request(Method::GET, url.clone())
            })
            .await
        {
            Ok(response) => {
                let dto: IdentityDto = Self::json("get_identity_by_external_id", response).await?;
                dto.into_domain().map(Some)
            }
            Err(IdentityError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn clear_external_id(&self, id: AuthId) -> Result<(), IdentityError> {
        let url = self.url(&format!("/admin/identities/{id}"));
        let patch = serde_json::json!([{"op": "remove", "path": "/external_id"}]);
        self.send("patch_identity", || {
            self.request(Method::PATCH, url.clone()).json(&patch)
        })
        .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), IdentityError> {
        let url = self.url("/health/alive");
        self.attempt("health", 0, &|| self.request(Method::GET, url.clone()))
            .await
            .map(drop)
            .map_err(Attempt::into_error)
    }

    fn describe(&self) -> String {
        format!(
            "Kratos admin API at {}",
            printable(&self.settings.admin_url)
        )
    }
}
