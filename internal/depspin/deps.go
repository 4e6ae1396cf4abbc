// Package depspin is temporary: it pins the modules the packages under construction import.
package depspin

import (
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	_ "github.com/stretchr/testify/require"
	_ "go.opentelemetry.io/collector/component/componenttest"
	_ "go.opentelemetry.io/collector/confmap/confmaptest"
	_ "go.opentelemetry.io/collector/confmap/xconfmap"
	_ "go.opentelemetry.io/collector/consumer/consumererror"
	_ "go.opentelemetry.io/collector/consumer/consumertest"
	_ "go.opentelemetry.io/collector/pdata/plog"
	_ "go.opentelemetry.io/collector/processor/processorhelper"
	_ "go.opentelemetry.io/collector/processor/processortest"
	_ "go.uber.org/goleak"
	_ "go.uber.org/zap"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/apimachinery/pkg/util/yaml"
	_ "sigs.k8s.io/yaml"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/collector/component/componentstatus"
)
