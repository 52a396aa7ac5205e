from __future__ import annotations

from django.urls import path

from incidents.api import views as api_tokens
from incidents.escalation import views as escalation
from incidents.escalation import views_contacts as contacts
from incidents.reviews import views as reviews
from incidents.reviews import views_export as review_exports
from incidents.reviews import views_metrics
from incidents.statuspage import views as status_updates
from incidents.statuspage import views_components as components
from incidents.views import changes, integrations, live, pages, rules
from incidents.webhooks import views as webhooks
from runbooks import views_checklists as checklists

app_name = "incidents"
urlpatterns = [
    path("", pages.incident_list, name="list"),
    path("declare/", pages.declare, name="declare"),
    path("<int:pk>/", pages.incident_detail, name="detail"),
    path("integrations/", integrations.integration_list, name="integrations"),
    path("integrations/new/", integrations.integration_new, name="integration_new"),
    path("integrations/<int:pk>/", integrations.integration_edit, name="integration_edit"),
    path(
        "integrations/<int:pk>/rotate/",
        integrations.integration_rotate,
        name="integration_rotate",
    ),
    path(
        "integrations/<int:pk>/enabled/",
        integrations.integration_enabled,
        name="integration_enabled",
    ),
    path("integrations/webhooks/", webhooks.webhook_list, name="webhooks"),
    path("integrations/webhooks/<int:pk>/", webhooks.webhook_detail, name="webhook_detail"),
    path(
        "integrations/webhooks/<int:pk>/enabled/",
        webhooks.webhook_enabled,
        name="webhook_enabled",
    ),
    path("integrations/webhooks/<int:pk>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path(
        "integrations/webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/",
        webhooks.webhook_redeliver,
        name="webhook_redeliver",
    ),
    path(
        "integrations/deliveries/again/",
        integrations.deliveries_again,
        name="deliveries_again",
    ),
    path("integrations/rules/", rules.rule_list, name="rules"),
    path("integrations/rules/new/", rules.rule_new, name="rule_new"),
    path("integrations/rules/<int:pk>/", rules.rule_edit, name="rule_edit"),
    path("integrations/rules/<int:pk>/move/", rules.rule_move, name="rule_move"),
    path("integrations/rules/<int:pk>/enabled/", rules.rule_enabled, name="rule_enabled"),
    path("integrations/rules/<int:pk>/delete/", rules.rule_delete, name="rule_delete"),
    path("escalation/", escalation.policy_list, name="escalation_policies"),
    path("escalation/<str:severity>/edit/", escalation.policy_edit, name="escalation_policy_edit"),
    path(
        "escalation/proposals/<int:pk>/",
        escalation.proposal_accept,
        name="escalation_proposal",
    ),
    path("oncall/", escalation.on_call, name="oncall"),
    path("oncall/new/", escalation.rotation_edit, name="rotation_new"),
    path("oncall/<int:pk>/", escalation.rotation_edit, name="rotation_edit"),
    path("oncall/<int:pk>/overrides/", escalation.override_add, name="override_add"),
    path(
        "oncall/<int:pk>/overrides/<int:override_id>/delete/",
        escalation.override_delete,
        name="override_delete",
    ),
    path("profile/", escalation.profile, name="profile"),
    # The profile's paging section: contact methods, notification rules, test page.
    path("profile/contacts/", contacts.method_add, name="contact_add"),
    path("profile/contacts/<int:pk>/code/", contacts.method_send_code, name="contact_code"),
    path("profile/contacts/<int:pk>/verify/", contacts.method_verify, name="contact_verify"),
    path("profile/contacts/<int:pk>/delete/", contacts.method_delete, name="contact_delete"),
    path("profile/rules/<str:urgency>/", contacts.rules_save, name="rules_save"),
    path("profile/test-page/", contacts.test_page, name="test_page"),
    path("profile/api-tokens/", api_tokens.token_create, name="api_token_create"),
    path("profile/api-tokens/<int:pk>/revoke/", api_tokens.token_revoke, name="api_token_revoke"),
    path("<int:pk>/escalate/", escalation.escalate_now, name="escalate_now"),
    path("<int:pk>/timeline/", live.timeline, name="timeline"),
    path("<int:pk>/status-updates/", status_updates.publish, name="publish_update"),
    path("<int:pk>/status-updates/compose/", status_updates.compose, name="compose_update"),
    path("comms-templates/", status_updates.template_list, name="comms_templates"),
    path("comms-templates/new/", status_updates.template_new, name="comms_template_new"),
    path("comms-templates/<int:pk>/", status_updates.template_edit, name="comms_template_edit"),
    path(
        "comms-templates/<int:pk>/delete/",
        status_updates.template_delete,
        name="comms_template_delete",
    ),
    path("status-page/components/", components.component_list, name="components"),
    path("status-page/components/<int:pk>/", components.component_edit, name="component_edit"),
    path(
        "status-page/components/<int:pk>/public/",
        components.component_public,
        name="component_public",
    ),
    path(
        "status-page/components/<int:pk>/move/",
        components.component_move,
        name="component_move",
    ),
    path("<int:pk>/notes/", changes.add_note, name="add_note"),
    path("<int:pk>/notes/<int:event_id>/pin/", changes.toggle_pin, name="toggle_pin"),
    path("<int:pk>/acknowledge/", changes.acknowledge, name="acknowledge"),
    path("<int:pk>/status/", changes.change_status, name="change_status"),
    path("<int:pk>/severity/", changes.change_severity, name="change_severity"),
    path("<int:pk>/roles/", changes.assign_role, name="assign_role"),
    path("<int:pk>/take-command/", changes.take_command, name="take_command"),
    path("<int:pk>/checklists/", checklists.attach, name="checklist_attach"),
    path(
        "<int:pk>/checklists/sections/",
        checklists.section_search,
        name="checklist_section_search",
    ),
    path(
        "<int:pk>/checklists/steps/<int:step_id>/done/",
        checklists.complete_step,
        name="checklist_step_done",
    ),
    path(
        "<int:pk>/checklists/steps/<int:step_id>/reopen/",
        checklists.reopen_step,
        name="checklist_step_reopen",
    ),
    path(
        "<int:pk>/checklists/steps/<int:step_id>/skip/",
        checklists.skip_step,
        name="checklist_step_skip",
    ),
    path(
        "<int:pk>/checklists/steps/<int:step_id>/note/",
        checklists.annotate_step,
        name="checklist_step_note",
    ),
    path(
        "<int:pk>/checklists/steps/<int:step_id>/check/",
        checklists.run_check,
        name="checklist_step_check",
    ),
    path(
        "<int:pk>/checklists/steps/<int:step_id>/check/status/",
        checklists.check_status,
        name="checklist_step_check_status",
    ),
    # Post-incident reviews, their exports and the metrics.
    path("reviews/", reviews.review_list, name="reviews"),
    path("reviews/schema.json", reviews.review_schema, name="review_schema"),
    path("reviews/action-items/", reviews.action_items, name="action_items"),
    path("reviews/export/", review_exports.bulk_export, name="review_bulk_export"),
    path("reviews/export/<int:pk>/", review_exports.export_status, name="review_export_status"),
    path(
        "reviews/export/<int:pk>/restart/",
        review_exports.export_restart,
        name="review_export_restart",
    ),
    path(
        "reviews/export/<int:pk>/download/",
        review_exports.export_download,
        name="review_export_download",
    ),
    path("metrics/", views_metrics.metrics, name="metrics"),
    path("<int:pk>/review/", reviews.review_detail, name="review"),
    path("<int:pk>/review/state/", reviews.review_state, name="review_state"),
    path("<int:pk>/review/action-items/", reviews.action_item_add, name="action_item_add"),
    path(
        "<int:pk>/review/action-items/<int:item_id>/",
        reviews.action_item_status,
        name="action_item_status",
    ),
    path(
        "<int:pk>/review/revisions/<int:number>.json",
        reviews.revision_json,
        name="review_revision",
    ),
    path(
        "<int:pk>/review/export.<str:fmt>",
        reviews.review_export,
        name="review_export",
    ),
]
