from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from fieldcollect.models import Campaign, CampaignMember, DeviceToken, User
from fieldcollect.services.accounts import device_token_revoke


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
