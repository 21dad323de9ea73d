"""Data access for configured model providers and per-model price overrides."""
from __future__ import annotations

from ..models import PriceOverride, Provider
from .base import Repository


class ProviderRepository(Repository):
    # --- providers -------------------------------------------------------------------------
    def get(self, name: str) -> Provider | None:
        return self.session.exec(self._scoped(Provider).where(Provider.name == name)).first()

    def list(self) -> list[Provider]:
        return list(self.session.exec(self._scoped(Provider).order_by(Provider.name)).all())

    def add(self, provider: Provider) -> Provider:
        self._own(provider)
        self.session.flush()
        return provider

    def save(self, provider: Provider) -> Provider:
        self.session.add(provider)
        self.session.flush()
        return provider

    def delete(self, provider: Provider) -> None:
        self.session.delete(provider)
        self.session.flush()

    # --- price overrides -------------------------------------------------------------------
    def price(self, model: str) -> PriceOverride | None:
        return self.session.exec(self._scoped(PriceOverride).where(PriceOverride.model == model)).first()

    def prices(self) -> list[PriceOverride]:
        return list(self.session.exec(self._scoped(PriceOverride).order_by(PriceOverride.model)).all())

    def set_price(self, model: str, input_cost_per_token: float, output_cost_per_token: float,
                  context_window: int | None) -> PriceOverride:
        row = self.price(model)
        if row is None:
            row = self._own(PriceOverride(model=model))
        row.input_cost_per_token = input_cost_per_token
        row.output_cost_per_token = output_cost_per_token
        row.context_window = context_window
        self.session.add(row)
        self.session.flush()
        return row

    def delete_price(self, row: PriceOverride) -> None:
        self.session.delete(row)
        self.session.flush()
