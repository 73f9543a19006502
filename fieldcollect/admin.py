import json

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from fieldcollect.models import (
    Campaign,
    CampaignMember,
    DeviceToken,
    HabitatAssignment,
    Photo,
    Releve,
    ReleveRevision,
    SpeciesObservation,
    User,
)
from fieldcollect.services.accounts import device_token_revoke
from fieldcollect.services.releves import releve_conflicts_resolve


class DeviceTokenInline(admin.TabularInline):
    model = DeviceToken
    extra = 0
    can_delete = False
    fields = ("device_id", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("device_id", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class FieldUserAdmin(UserAdmin):
    inlines = [DeviceTokenInline]
    list_display = ("username", "first_name", "last_name", "email", "is_active", "roles")

    @admin.display(description="roles")
    def roles(self, obj: User) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all()))

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "device_id", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "device_id", "prefix")
    readonly_fields = ("user", "device_id", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tokens are issued to devices by the login endpoint; the key is never visible here.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[DeviceToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            device_token_revoke(token=token)
            count += 1
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


class CampaignMemberInline(admin.TabularInline):
    model = CampaignMember
    extra = 1
    autocomplete_fields = ("user",)


@admin.register(Campaign)
class CampaignAdmin(GISModelAdmin):
    list_display = ("name", "slug", "year", "starts_on", "ends_on")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [CampaignMemberInline]


# --- relevés ---------------------------------------------------------------------------------------


class HabitatAssignmentInline(admin.TabularInline):
    model = HabitatAssignment
    extra = 0
    raw_id_fields = ("habitat",)


class SpeciesObservationInline(admin.TabularInline):
    model = SpeciesObservation
    extra = 0
    raw_id_fields = ("taxon",)
    readonly_fields = ("cover_pct",)


class PhotoInline(admin.TabularInline):
    model = Photo
    extra = 0
    can_delete = False
    fields = ("uuid", "state", "size", "received_bytes", "bearing_deg", "exif_taken_at", "blob")
    readonly_fields = fields


class ReleveRevisionInline(admin.TabularInline):
    model = ReleveRevision
    extra = 0
    can_delete = False
    fields = ("received_at", "outcome", "device_id", "base_version", "resulting_version", "resolved_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReleveAdmin(GISModelAdmin):
    list_display = ("uuid", "campaign", "observer", "observed_at", "status", "version", "has_open_conflict")
    list_filter = ("status", "has_open_conflict", "campaign", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("uuid", "observer__username", "notes")
    date_hierarchy = "observed_at"
    raw_id_fields = ("observer",)
    filter_horizontal = ("co_observers",)
    readonly_fields = ("uuid", "status", "version", "content_hash", "device_id", "app_version", "created_at",
                       "updated_at", "deleted_at")  # fmt: skip
    inlines = [HabitatAssignmentInline, SpeciesObservationInline, PhotoInline, ReleveRevisionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Releve]:
        return super().get_queryset(request).select_related("campaign", "observer")


class OpenConflictFilter(admin.SimpleListFilter):
    title = "conflict"
    parameter_name = "conflict"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [("open", "Open conflicts"), ("resolved", "Resolved conflicts")]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if self.value() == "open":
            return queryset.filter(outcome=ReleveRevision.Outcome.CONFLICT, resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(outcome=ReleveRevision.Outcome.CONFLICT, resolved_at__isnull=False)
        return queryset


@admin.register(ReleveRevision)
class ReleveRevisionAdmin(admin.ModelAdmin):
    """Every payload received; a conflict shows the tablet's version and the server's side by side."""

    list_display = ("uuid", "outcome", "submitted_by", "device_id", "received_at", "base_version", "resolved_at")
    list_filter = (OpenConflictFilter, "outcome", "received_at")
    search_fields = ("uuid", "submitted_by__username", "device_id")
    readonly_fields = (
        "uuid", "releve", "submitted_by", "device_id", "app_version", "received_at", "outcome",
        "base_version", "resulting_version", "errors", "both_versions", "resolved_at", "resolved_by",
    )  # fmt: skip
    exclude = ("payload_json", "server_copy", "payload_hash")
    actions = ["mark_resolved"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # nothing a tablet sent is ever lost

    @admin.display(description="tablet's version | server's version")
    def both_versions(self, obj: ReleveRevision) -> str:
        tablet = json.dumps(obj.payload, indent=1, ensure_ascii=False)
        server = json.dumps(obj.server_copy, indent=1, ensure_ascii=False) if obj.server_copy else "—"
        return format_html(
            '<table><tr><th>tablet (sent)</th><th>server (kept)</th></tr><tr><td style="vertical-align:top">'
            '<pre style="white-space:pre-wrap">{}</pre></td><td style="vertical-align:top">'
            '<pre style="white-space:pre-wrap">{}</pre></td></tr></table>',
            tablet,
            server,
        )

    @admin.action(description="Mark selected conflicts resolved")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[ReleveRevision]) -> None:
        count = releve_conflicts_resolve(revisions=queryset, actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"{count} conflict(s) marked resolved.", messages.SUCCESS)


# The coordinators' review (list, relevé page, decisions, dashboard) extends ReleveAdmin and registers it.
from fieldcollect import admin_review  # noqa: E402, F401
