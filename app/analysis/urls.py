from django.urls import path

from app.analysis import views

urlpatterns = [
    path("model/", views.model_card, name="model_card"),
    path("model/<str:name>/<str:version>/", views.model_card, name="model_card_pack"),
    path("model/<str:name>/<str:version>/file/<path:path>", views.pack_file, name="pack_file"),
    path("admin/packs/", views.pack_list, name="pack_list"),
    path("admin/packs/import/", views.pack_import, name="pack_import"),
    path("admin/packs/activate/", views.pack_activate, name="pack_activate"),
    path("admin/packs/rollback/", views.pack_rollback, name="pack_rollback"),
]
