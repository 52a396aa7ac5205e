from __future__ import annotations

from django.urls import path

from runbooks import views, views_proposals, views_reading

app_name = "runbooks"
urlpatterns = [
    path("", views.library, name="library"),
    # Before <slug>/: "upload" is not a runbook.
    path("upload/", views.upload, name="upload"),
    path("proposals/<int:pk>/accept/", views_proposals.accept, name="proposal_accept"),
    path("proposals/<int:pk>/dismiss/", views_proposals.dismiss, name="proposal_dismiss"),
    path("<slug:slug>/", views.runbook_detail, name="detail"),
    path("<slug:slug>/v/<int:number>/", views.runbook_version, name="version"),
    path("<slug:slug>/versions/", views.versions, name="versions"),
    path("<slug:slug>/reading/", views_reading.reading_current, name="reading_current"),
    path("<slug:slug>/v/<int:number>/reading/", views_reading.reading, name="reading"),
    path("<slug:slug>/corrections/", views_reading.correct, name="correct"),
    path("<slug:slug>/diff/<int:a>/<int:b>/", views.diff, name="diff"),
]
