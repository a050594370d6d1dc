from django.contrib import admin

from supervision.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """The audit log is a record: it can be read and searched, never edited."""

    list_display = ("at", "username", "source", "action", "target", "detail", "ok", "result")
    list_filter = ("action", "source", "ok")
    search_fields = ("username", "target", "result")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
