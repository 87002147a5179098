"""`/status/{community}`: partner status pages (to be built)."""

from fastapi import APIRouter

router = APIRouter(prefix="/status", tags=["status pages"])
