from django.urls import path

from app.statistics import views

urlpatterns = [
    path("statistics/", views.statistics, name="statistics"),
    path("statistics/<str:table>.csv", views.statistics_csv, name="statistics_csv"),
]
